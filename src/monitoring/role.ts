// Which traffic a version serves: the answers clients get (live) or mirrored copies (shadow).
// Its own file because the lowest monitoring parts (the prediction store) name it too.
export type Role = 'live' | 'shadow';
export const ROLES: readonly Role[] = ['live', 'shadow'];
