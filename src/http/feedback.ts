// POST /feedback: ground truth for earlier predictions, one item or a batch. Unknown and expired
// request ids are outcomes, not errors: the answer is 200 with what became of each label. A
// single item that is invalid answers 400 naming the field (and is counted); in a batch the
// invalid items are listed by index and the rest are scored.
import { badRequest } from '../errors.js';
import { noOutcomes, type FeedbackService } from '../serving/feedback.js';
import type { ModelRegistry } from '../serving/registry.js';
import { readJsonObject } from './json-body.js';
import type { Router } from './router.js';

export interface FeedbackContext {
  registry: ModelRegistry;
  feedback: FeedbackService;
  maxBodyBytes: number;
}

/** Items per batch (the body limit bounds it too). */
const MAX_FEEDBACK_ITEMS = 10_000;
/** Invalid items a batch answer lists (all are counted). */
const LISTED_ERRORS = 100;

export function mountFeedback(router: Router, context: FeedbackContext): void {
  router.route('/feedback', {
    POST: async (exchange) => {
      const body = await readJsonObject(exchange, context.maxBodyBytes);
      const { model: name, feedback: items, ...item } = body;
      if (typeof name !== 'string' || name === '') throw badRequest('model is required: the name of a served model');
      const model = context.registry.require(name);
      if (items === undefined) {
        const result = context.feedback.record(model, item, '');
        if (result.outcome === 'invalid') throw badRequest(result.error!);
        exchange.sendJson(200, { model: name, outcome: result.outcome });
        return;
      }
      if (Object.keys(item).length) {
        throw badRequest(`${Object.keys(item)[0]}: a batch is {"model", "feedback": [...]}; put each label's fields inside its item`);
      }
      if (!Array.isArray(items)) throw badRequest('feedback must be an array of feedback items');
      if (items.length > MAX_FEEDBACK_ITEMS) throw badRequest(`feedback holds ${items.length} items; the limit is ${MAX_FEEDBACK_ITEMS}`);
      const counts = noOutcomes();
      const errors: { index: number; error: string }[] = [];
      items.forEach((entry, index) => {
        const result = context.feedback.record(model, entry, `feedback/${index}`);
        counts[result.outcome]++;
        if (result.error && errors.length < LISTED_ERRORS) errors.push({ index, error: result.error });
      });
      exchange.sendJson(200, { model: name, ...counts, errors });
    },
  });
}
