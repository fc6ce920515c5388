import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, type DataConverter, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { AppConfig } from '../config/config';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const ENCRYPTION_KEY_ID = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const utf8 = (text: string) => new TextEncoder().encode(text);
const text = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

export class PayloadCodecError extends Error {}

interface CodecKey {
  id: string;
  key: Buffer;
}

/** A key's id in payload metadata: the first 16 hex digits of its SHA-256, so keys can rotate without config ids. */
function keyOf(base64: string): CodecKey {
  const key = Buffer.from(base64.trim(), 'base64');
  if (key.length !== 32) throw new PayloadCodecError('a Temporal codec key must be 32 bytes, base64');
  return { id: createHash('sha256').update(key).digest('hex').slice(0, 16), key };
}

/**
 * AES-256-GCM payload codec: each payload (inputs, results, heartbeat details, query answers, failure details) is
 * serialised whole and encrypted with a fresh IV, so the Temporal server and its Web UI hold only
 * `binary/encrypted` payloads. Decoding passes through payloads that are not encrypted, so histories recorded
 * before the codec (or with it off) still replay and read; earlier keys decode what they encrypted.
 */
export class AesGcmPayloadCodec implements PayloadCodec {
  private readonly current: CodecKey;
  private readonly byId: Map<string, CodecKey>;

  constructor(currentKeyBase64: string, previousKeysBase64: string[] = []) {
    this.current = keyOf(currentKeyBase64);
    this.byId = new Map([this.current, ...previousKeysBase64.map(keyOf)].map((key) => [key.id, key]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: { [METADATA_ENCODING_KEY]: utf8(ENCRYPTED_ENCODING), [ENCRYPTION_KEY_ID]: utf8(this.current.id) },
        data: sealed,
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (text(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCRYPTED_ENCODING) return payload;
      const keyId = text(payload.metadata?.[ENCRYPTION_KEY_ID]) ?? '';
      const key = this.byId.get(keyId);
      if (!key)
        throw new PayloadCodecError(`payload encrypted with unknown key ${keyId}: set TEMPORAL_CODEC_PREVIOUS_KEYS`);
      const sealed = Buffer.from(payload.data ?? new Uint8Array());
      if (sealed.length < IV_BYTES + TAG_BYTES) throw new PayloadCodecError('encrypted payload is truncated');
      const decipher = createDecipheriv('aes-256-gcm', key.key, sealed.subarray(0, IV_BYTES));
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return temporal.api.common.v1.Payload.decode(plain) as Payload;
    });
  }
}

/** The codec of TEMPORAL_CODEC_KEY (and its previous keys), or undefined when payloads stay in clear. */
export function payloadCodecOf(config: AppConfig): AesGcmPayloadCodec | undefined {
  if (!config.TEMPORAL_CODEC_KEY) return undefined;
  const previous = (config.TEMPORAL_CODEC_PREVIOUS_KEYS ?? '')
    .split(',')
    .map((key) => key.trim())
    .filter(Boolean);
  return new AesGcmPayloadCodec(config.TEMPORAL_CODEC_KEY, previous);
}

/** The module of the failure converter that encrypts failure messages too (resolved as .ts in tests, .js in dist). */
export const ENCODED_FAILURE_CONVERTER_PATH = require.resolve('./encoded-failure-converter');

/**
 * The data converter of every Temporal client and worker of the app: with a codec key, payloads are encrypted and
 * so are failure messages and stack traces (encodeCommonAttributes, see encoded-failure-converter.ts); without one,
 * the SDK's default. Activity failures (where step reasons come from) are converted by the worker with this
 * converter. Workflows record a failed step on the step instead of failing, so the pre-built workflow bundle keeps
 * the default converter (which decodes encoded failures all the same) and serves both settings.
 */
export function temporalDataConverter(config: AppConfig): DataConverter | undefined {
  const codec = payloadCodecOf(config);
  return codec ? { payloadCodecs: [codec], failureConverterPath: ENCODED_FAILURE_CONVERTER_PATH } : undefined;
}

/**
 * The CreatedBy search attribute's value. Search attributes are indexed in clear, so with the codec on a user's
 * e-mail becomes a keyed pseudonym (`user-` + 16 hex digits of an HMAC under the codec key): still one value per
 * user to filter on in the Web UI (GET /api/v2/temporal-codec/user-pseudonym tells admins which), never the address.
 */
export function createdByAttribute(config: AppConfig, email: string): string {
  if (!config.TEMPORAL_CODEC_KEY) return email;
  const key = Buffer.from(config.TEMPORAL_CODEC_KEY, 'base64');
  return `user-${createHmac('sha256', key).update(`created-by\n${email}`).digest('hex').slice(0, 16)}`;
}
