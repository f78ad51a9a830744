// Webhook addresses, from a flag or a model's config.json: checked where they are read, so a
// bad one is refused at startup or load, never found at the moment an alert has to go out.

/** The URL when `raw` is an absolute http(s) URL, else null. */
export function httpUrl(raw: string): URL | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
}
