// Names that become folder names: version folders are positive integers, model folders a
// conservative charset. One definition, so the admin API never accepts a name the repository
// scan would not (and nothing with a path separator or dot-dot gets near the filesystem).
export const VERSION_PATTERN = /^[1-9][0-9]{0,8}$/;
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isModelName(name: string): boolean {
  return MODEL_NAME_PATTERN.test(name);
}

export function isVersionName(version: string): boolean {
  return VERSION_PATTERN.test(version);
}
