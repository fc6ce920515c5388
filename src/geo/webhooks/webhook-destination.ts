import { type AddressPolicy, checkUrlAgainstPolicy, UrlPolicyError } from '../net/address-policy';

export class WebhookDestinationError extends Error {}

/**
 * Checks a webhook URL: http(s) only, no credentials in it, and, unless allowed by configuration, a host
 * that does not resolve to a loopback, private, link-local or otherwise internal address (the address
 * policy of src/geo/net, shared with input URLs; the delivery checks the address again when it connects).
 */
export async function checkWebhookDestination(rawUrl: string, policy: AddressPolicy | boolean): Promise<URL> {
  const effective: AddressPolicy =
    typeof policy === 'boolean'
      ? {
          allowPrivateAddresses: policy,
          allowedHosts: { names: [], suffixes: [], ranges: [] },
          settingName: 'WEBHOOK_ALLOW_PRIVATE_ADDRESSES',
        }
      : policy;
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new WebhookDestinationError(`"${rawUrl}" is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new WebhookDestinationError('must be an http or https URL');
  if (url.username || url.password)
    throw new WebhookDestinationError('must not carry credentials; requests are signed instead');
  try {
    return await checkUrlAgainstPolicy(rawUrl, effective);
  } catch (error) {
    if (error instanceof UrlPolicyError) throw new WebhookDestinationError(error.message);
    throw error;
  }
}
