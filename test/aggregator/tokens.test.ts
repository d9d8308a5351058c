import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EngineCredentials } from '../../src/aggregator/auth/engineCredentials.ts';
import { engineTokens, hashToken, parseTokenFile, TokenFileError } from '../../src/aggregator/auth/tokens.ts';

const sha256 = (text: string) => createHash('sha256').update(text).digest();

describe('token files', () => {
  it('reads a JSON object of engine ids to tokens, clear or hashed', () => {
    const tokens = parseTokenFile(JSON.stringify({ 'eng-1': 'alpha', 'eng-2': hashToken('beta') }));
    expect([...tokens.keys()]).toEqual(['eng-1', 'eng-2']);
    expect(tokens.get('eng-1')).toEqual(sha256('alpha'));
    expect(tokens.get('eng-2')).toEqual(sha256('beta'));
  });

  it('reads lines "engineId token", skipping blank lines and comments', () => {
    const text = `# lab 3\n\neng-1   alpha\r\n  eng-2\t${hashToken('beta')}  \n# retired: eng-3 gamma\n`;
    const tokens = parseTokenFile(text);
    expect([...tokens.keys()]).toEqual(['eng-1', 'eng-2']);
    expect(tokens.get('eng-2')).toEqual(sha256('beta'));
  });

  it('refuses what it cannot read, naming the file and the line', () => {
    const cases: Array<[string, RegExp]> = [
      ['eng-1 alpha extra', /tokens\.txt: line 1: expected "engineId token", got 3 fields/],
      ['eng-1', /line 1: expected "engineId token", got 1 fields/],
      ['bad/id alpha', /invalid engine id "bad\/id"/],
      ['eng-1 alpha\neng-1 beta', /engine eng-1 is listed twice/],
      ['eng-1 sha256:abc', /a hashed token is "sha256:" and 64 hex digits/],
      ['{"eng-1": 5}', /engine eng-1: the token must be a string/],
      ['{"eng-1": ""}', /engine eng-1: the token must be a non-empty string/],
      ['{"eng-1": "a",', /not valid JSON/],
    ];
    for (const [text, message] of cases) {
      expect(() => parseTokenFile(text, 'tokens.txt')).toThrow(TokenFileError);
      expect(() => parseTokenFile(text, 'tokens.txt')).toThrow(message);
    }
  });
});

describe('engine credentials', () => {
  const credentials = new EngineCredentials({
    tokens: engineTokens({ 'eng-1': 'alpha', 'eng-2': hashToken('beta') }),
    secret: 'shared',
  });

  it('admits an engine with its own token, and an unlisted engine with the shared secret', () => {
    expect(credentials.check('eng-1', 'alpha')).toEqual({ ok: true });
    expect(credentials.check('eng-2', 'beta')).toEqual({ ok: true });
    expect(credentials.check('eng-9', 'shared')).toEqual({ ok: true });
  });

  it("refuses another engine's token and the shared secret for a listed engine, with the same message", () => {
    expect(credentials.check('eng-1', 'beta')).toMatchObject({
      ok: false,
      message: 'invalid token for engine eng-1',
      detail: 'not the token of this engine in the token file',
    });
    expect(credentials.check('eng-1', 'shared')).toMatchObject({
      ok: false,
      message: 'invalid token for engine eng-1',
    });
    // The hashed form is not itself a token.
    expect(credentials.check('eng-2', hashToken('beta'))).toMatchObject({ ok: false });
    expect(credentials.check('eng-1', undefined)).toMatchObject({
      ok: false,
      message: 'invalid token for engine eng-1 (no bearer token given)',
    });
  });

  it('without a shared secret, an engine not in the token file is refused like a wrong token', () => {
    const only = new EngineCredentials({ tokens: engineTokens({ 'eng-1': 'alpha' }) });
    expect(only.check('eng-9', 'alpha')).toEqual({
      ok: false,
      message: 'invalid token for engine eng-9',
      detail: 'the engine is not in the token file',
    });
  });

  it('compares tokens of any length and content without failing (digests of equal length)', () => {
    for (const token of ['', 'a', 'x'.repeat(100_000), '\u0000\ud800🔑', 'alph', 'alphaa'])
      expect(credentials.check('eng-1', token)).toMatchObject({ ok: false });
  });

  it('admits everyone when neither tokens nor a secret are set', () => {
    expect(new EngineCredentials().check('anyone', undefined)).toEqual({ ok: true });
  });
});
