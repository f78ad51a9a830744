// config.json's alert webhooks are checked when the file is read: a URL that cannot be parsed
// would otherwise be found only when an alert fires, and throw in the middle of the alert sweep.
import { describe, expect, it } from 'vitest';
import { parseModelConfig } from '../../src/config/model-config.js';

const withWebhooks = (webhooks: string[]) => ({ task: 'binary-classification', alerts: { webhooks } });

describe('config.json alerts/webhooks', () => {
  it('takes http and https URLs', () => {
    const config = parseModelConfig(withWebhooks(['http://127.0.0.1:9000/hook', 'https://retrain.example/jobs']), 'm/config.json');
    expect(config.alerts?.webhooks).toHaveLength(2);
  });

  it.each(['http://', 'http://exa mple/x', 'https://a:b@', 'ftp://example/x', 'example.com/hook'])('refuses %j, naming the entry', (url) => {
    expect(() => parseModelConfig(withWebhooks(['http://127.0.0.1:9000/hook', url]), 'm/config.json'))
      .toThrow(/m\/config\.json.*alerts\/webhooks\/1/);
  });
});
