import assert from 'node:assert/strict';
import { randomHex } from '../src/random.js';

describe('randomHex', () => {
  it('gives as many random bytes as asked, in hex, different each time', () => {
    const names = new Set(Array.from({ length: 50 }, () => randomHex(6)));
    assert.equal(names.size, 50);
    for (const name of names) assert.match(name, /^[0-9a-f]{12}$/);
    assert.match(randomHex(1), /^[0-9a-f]{2}$/);
  });
});
