import { Webhook } from 'standardwebhooks';
import { checkWebhookDestination } from '../../src/geo/webhooks/webhook-destination';
import { independentSignature } from '../support/webhook-receiver';

describe('webhook signing', () => {
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const id = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
  const timestamp = 1614265330;
  const body = '{"test": 2432232314}';
  const expected = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';

  it('matches the Standard Webhooks spec vector', () => {
    expect(new Webhook(secret).sign(id, new Date(timestamp * 1000), body)).toBe(expected);
    expect(independentSignature(secret, id, timestamp, body)).toBe(expected);
  });
});

describe('webhook destinations', () => {
  it.each([
    'http://127.0.0.1:8080/hook',
    'http://10.1.2.3/hook',
    'http://[::1]/hook',
    'http://169.254.169.254/latest',
    'http://192.168.0.5/x',
    'http://localhost/x',
  ])('refuses %s when private addresses are not allowed', async (url) => {
    await expect(checkWebhookDestination(url, false)).rejects.toThrow(/private or internal address/);
  });

  it('accepts a public address, and private ones when allowed', async () => {
    await expect(checkWebhookDestination('https://93.184.215.14/hook', false)).resolves.toBeInstanceOf(URL);
    await expect(checkWebhookDestination('http://127.0.0.1:8080/hook', true)).resolves.toBeInstanceOf(URL);
  });

  it('refuses other schemes and embedded credentials', async () => {
    await expect(checkWebhookDestination('ftp://example.com/x', true)).rejects.toThrow(/http or https/);
    await expect(checkWebhookDestination('https://user:pw@example.com/x', true)).rejects.toThrow(/credentials/);
  });
});
