import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/client';
import { problemFields } from './errors';

describe('problem fields', () => {
  it('puts each field error at its input and keeps the rest as a message', () => {
    const e = new ApiError(422, 'invalid', { title: 'Invalid input', detail: 'must be at least 12 characters', field: 'password' });
    expect(problemFields(e, ['username', 'password'])).toEqual({ fields: { password: 'must be at least 12 characters' }, message: null });
    const many = new ApiError(422, 'invalid fields', {
      errors: [
        { field: 'url', message: 'not a URL' },
        { field: 'other', message: 'x' },
      ],
    });
    expect(problemFields(many, ['url'])).toEqual({ fields: { url: 'not a URL' }, message: 'invalid fields' });
  });
  it('gives a message for errors about no input', () => {
    expect(problemFields(new ApiError(409, 'user quota of 50 reached', { detail: 'user quota of 50 reached' }), ['username'])).toEqual({
      fields: {},
      message: 'user quota of 50 reached',
    });
    expect(problemFields(new Error('boom'), [])).toEqual({ fields: {}, message: 'boom' });
  });
});
