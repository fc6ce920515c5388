import { defaultPayloadConverter } from '@temporalio/common';
import { AesGcmPayloadCodec, ENCRYPTED_ENCODING } from '../../src/platform/temporal/payload-codec';
import { signTileToken, verifyTileToken } from '../../src/geo/tiles/tile-token';

const key = (byte: number) => Buffer.alloc(32, byte).toString('base64');

describe('AES-GCM payload codec', () => {
  const payload = defaultPayloadConverter.toPayload({ url: 'https://host/a.tif?token=secret', user: 'a@x.io' });

  it('encrypts whole payloads and decodes them back', async () => {
    const codec = new AesGcmPayloadCodec(key(1));
    const [encoded] = await codec.encode([payload]);
    expect(Buffer.from(encoded!.metadata!.encoding!).toString()).toBe(ENCRYPTED_ENCODING);
    expect(Buffer.from(encoded!.data!).toString('latin1')).not.toContain('secret');
    const [decoded] = await codec.decode([encoded!]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual({
      url: 'https://host/a.tif?token=secret',
      user: 'a@x.io',
    });
  });

  it('passes through payloads that were never encoded (histories recorded without the codec)', async () => {
    expect(await new AesGcmPayloadCodec(key(1)).decode([payload])).toEqual([payload]);
  });

  it('decodes with previous keys after a rotation, and refuses unknown keys and tampered payloads', async () => {
    const [old] = await new AesGcmPayloadCodec(key(1)).encode([payload]);
    expect(await new AesGcmPayloadCodec(key(2), [key(1)]).decode([old!])).toEqual([
      expect.objectContaining({ data: payload.data }),
    ]);
    await expect(new AesGcmPayloadCodec(key(2)).decode([old!])).rejects.toThrow(/unknown key/);
    const tampered = { ...old!, data: Buffer.from(old!.data!).fill(0, 20, 21) };
    await expect(new AesGcmPayloadCodec(key(1)).decode([tampered])).rejects.toThrow();
  });
});

describe('tile token generations', () => {
  const secret = 'unit-test-signing-secret-0123456789';
  const now = 1_700_000_000;

  it('keeps generation-0 tokens as before and revokes every earlier generation', () => {
    const first = signTileToken('task-a', now + 60, secret);
    expect(verifyTileToken('task-a', first, secret, now, 0)).toEqual({ valid: true, expires: now + 60 });
    expect(verifyTileToken('task-a', first, secret, now, 1)).toEqual({ valid: false, reason: 'bad-signature' });
    const second = signTileToken('task-a', now + 60, secret, 1);
    expect(verifyTileToken('task-a', second, secret, now, 1).valid).toBe(true);
    expect(verifyTileToken('task-a', second, secret, now, 2).valid).toBe(false);
  });
});
