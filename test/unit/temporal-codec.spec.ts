import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import { decodeFailure, encodeFailure, loadDataConverter } from '@temporalio/common/lib/internal-non-workflow';
import { looksLikeJwt } from '../../src/api/auth/oidc-access-tokens';
import { loadConfig } from '../../src/platform/config/config';
import {
  AesGcmPayloadCodec,
  ENCRYPTED_ENCODING,
  temporalDataConverter,
} from '../../src/platform/temporal/payload-codec';
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

describe('failure messages with the codec on', () => {
  const config = (extra: Record<string, string> = {}) => loadConfig({ API_KEYS: 'k:u@example.com', ...extra });
  const reason = 'download of https://host/scenes/a.tif?X-Amz-Signature=[redacted] failed: HTTP 404 (a@x.io)';

  it('moves message and stack trace into an encrypted payload, and reads them back', async () => {
    const converter = loadDataConverter(temporalDataConverter(config({ TEMPORAL_CODEC_KEY: key(3) })));
    const failure = converter.failureConverter.errorToFailure(
      ApplicationFailure.create({ message: reason, type: 'InvalidInput', nonRetryable: true }),
      converter.payloadConverter,
    );
    const stored = await encodeFailure(converter.payloadCodecs, failure);
    expect(stored).toMatchObject({ message: 'Encoded failure', stackTrace: '' });
    expect(Buffer.from(stored.encodedAttributes!.metadata!.encoding!).toString()).toBe(ENCRYPTED_ENCODING);
    expect(JSON.stringify(stored)).not.toMatch(/scenes|a@x\.io|HTTP 404/);
    const error = converter.failureConverter.failureToError(
      await decodeFailure(converter.payloadCodecs, stored),
      converter.payloadConverter,
    );
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect(error).toMatchObject({ message: reason, type: 'InvalidInput', nonRetryable: true });
  });

  it('leaves failures in clear without a codec key, and reads failures recorded in clear with one', async () => {
    expect(temporalDataConverter(config())).toBeUndefined();
    const converter = loadDataConverter(temporalDataConverter(config({ TEMPORAL_CODEC_KEY: key(3) })));
    const recorded = { message: reason, applicationFailureInfo: { type: 'InvalidInput' } };
    const error = converter.failureConverter.failureToError(
      await decodeFailure(converter.payloadCodecs, recorded),
      converter.payloadConverter,
    );
    expect(error.message).toBe(reason);
  });
});

describe('Web UI sign-in settings of the codec endpoint', () => {
  const base = { API_KEYS: 'k:u@example.com', TEMPORAL_UI_OIDC_ISSUER_URL: 'https://sso.example.com/realms/x/' };

  it('takes the audience from the client id unless given, and admins as lists', () => {
    expect(loadConfig({ API_KEYS: 'k:u@example.com' }).temporalUiOidc).toBeUndefined();
    const settings = loadConfig({
      ...base,
      TEMPORAL_UI_OIDC_CLIENT_ID: 'temporal-ui',
      TEMPORAL_UI_OIDC_AUDIENCE: '',
      TEMPORAL_UI_ADMIN_EMAILS: ' Ops@Example.com, b@example.com ',
      TEMPORAL_UI_ADMIN_GROUPS: 'temporal-admins',
    }).temporalUiOidc!;
    expect(settings).toMatchObject({
      issuerUrl: 'https://sso.example.com/realms/x',
      audiences: ['temporal-ui'],
      groupsClaim: 'groups',
    });
    expect([...settings.adminEmails]).toEqual(['ops@example.com', 'b@example.com']);
    expect([...settings.adminGroups]).toEqual(['temporal-admins']);
    expect(
      loadConfig({ ...base, TEMPORAL_UI_OIDC_CLIENT_ID: 'ui', TEMPORAL_UI_OIDC_AUDIENCE: 'api,ui' }).temporalUiOidc!
        .audiences,
    ).toEqual(['api', 'ui']);
  });

  it('refuses an issuer without an audience to check, or that is not a URL', () => {
    expect(() => loadConfig(base)).toThrow(/TEMPORAL_UI_OIDC_AUDIENCE or TEMPORAL_UI_OIDC_CLIENT_ID/);
    expect(() => loadConfig({ ...base, TEMPORAL_UI_OIDC_ISSUER_URL: 'sso', TEMPORAL_UI_OIDC_CLIENT_ID: 'x' })).toThrow(
      /TEMPORAL_UI_OIDC_ISSUER_URL/,
    );
  });

  it('tells sign-in tokens (JWTs) from API keys', () => {
    const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    expect(looksLikeJwt(`${part({ alg: 'RS256', kid: 'a' })}.${part({ sub: 'x' })}.c2ln`)).toBe(true);
    for (const key of ['test-key-alice-0123456789', 'gik_abc.def.ghi', `${part({ no: 'alg' })}.e30.c2ln`, 'a.b'])
      expect(looksLikeJwt(key)).toBe(false);
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
