// A real OpenID Connect provider for the sign-in tests, on loopback only.
// Environment: PORT (required), REDIRECT_URI (the app's callback), CLIENT_ID, CLIENT_SECRET.
// Prints "ready <issuer>" on stdout once it listens. Sign-in pages are oidc-provider's development
// interactions (any password; the login name picks one of ACCOUNTS below).
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;

const ACCOUNTS = {
  'desk.anna': { name: 'Anna Desk', email: 'anna@hospital.test', groups: ['staff', 'daycare-desk'] },
  'coord.bert': { name: 'Bert Coordinator', email: 'bert@hospital.test', groups: ['staff', 'daycare-coord'] },
  'visitor.carl': { name: 'Carl Visitor', email: 'carl@hospital.test', groups: ['staff'] },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID || 'onevisit',
    client_secret: process.env.CLIENT_SECRET || 'onevisit-test-secret',
    redirect_uris: [process.env.REDIRECT_URI || 'http://localhost/auth/oidc/callback'],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email'], groups: ['groups'] },
  scopes: ['openid', 'profile', 'email', 'groups'],
  // The claims of the requested scopes go into the ID token too, where the app reads them.
  conformIdTokenClaims: false,
  pkce: { methods: ['S256'], required: () => true },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['onevisit-test-cookie-key'] },
  async findAccount(ctx, sub) {
    const account = ACCOUNTS[sub];
    if (!account) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, preferred_username: sub, ...account };
      },
    };
  },
});

const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
