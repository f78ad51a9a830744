// One shared ajv instance (compiling is the expensive part; validators are cached per schema),
// plus turning ajv's errors into messages that name the field the way users wrote it.
import AjvModule, { type ErrorObject } from 'ajv';

// ajv is CommonJS; under NodeNext its class is the default export's `default`.
const Ajv = AjvModule.default;

/** Request bodies: stop at the first error (cheaper, and one clear message is the answer). */
export const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true, useDefaults: false, coerceTypes: false });

/** Admin and config documents: collect every error so the most specific one can be reported. */
export const ajvAllErrors = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, useDefaults: false, coerceTypes: false });

/** The field an ajv error is about, as users write it: `features/mean_radius`, `instances/3`. */
export function ajvErrorPath(error: ErrorObject, root: string): string {
  const path = [root, ...error.instancePath.split('/').filter(Boolean)].filter(Boolean).join('/');
  const missing = error.keyword === 'required' ? error.params.missingProperty
    : error.keyword === 'additionalProperties' ? error.params.additionalProperty : undefined;
  return [path, missing === undefined ? undefined : String(missing)].filter(Boolean).join('/');
}

/** `features/mean_radius must be number`, `instances/3 must have 30 items`, … */
export function describeAjvError(error: ErrorObject, root: string): string {
  const path = [root, ...error.instancePath.split('/').filter(Boolean)].filter(Boolean).join('/');
  const at = (extra?: string) => [path, extra].filter(Boolean).join('/') || '(body)';
  switch (error.keyword) {
    case 'required':
      return `${at(String(error.params.missingProperty))} is required`;
    case 'additionalProperties':
      return `${at(String(error.params.additionalProperty))} is not allowed here`;
    case 'type':
      return `${at()} must be ${error.params.type}`;
    case 'enum':
      return `${at()} must be one of ${(error.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `${at()} ${error.message ?? 'is invalid'}`;
  }
}
