// The SSO tests' OpenID Connect provider on loopback: node's oidc-provider 9.13.3 (MIT, panva).
// Started by tests/sso/oidc.py (OIDCProvider); not a product.
//
//   node provider.mjs PORT CONFIG.json        PORT 0 picks a free port
//
// It listens on 127.0.0.1 with the issuer http://127.0.0.1:<port>, and prints `READY <issuer>` on
// stdout once it answers. CONFIG.json:
//   {"clients": [{"client_id", "client_secret", "redirect_uris": [...],
//                 "token_endpoint_auth_method": "client_secret_post" | "client_secret_basic"}],
//    "accounts": "accounts.json"  (a path, relative to CONFIG.json's folder)  or  {login: {...}},
//    "clock_offset_seconds": 0,  a provider whose clock runs this far ahead (or behind, < 0)
//    "id_token_ttl_seconds": 3600}
// The accounts map is login -> claims (sub, email, email_verified, hd, tid, name, ...). It is
// read again on every lookup, so a test may rewrite the file between two sign-ins. `sub` defaults
// to the login. The dev interaction pages sign in any known login with any password.
import { generateKeyPairSync, hash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, resolve } from 'node:path';
import { parse as parseQuery } from 'node:querystring';

// oidc-provider 9 needs crypto.hash (Node.js 20.12+; it asks for 22 LTS and warns on 20, but
// works). Debian 12's nodejs is 18: say so rather than fail somewhere inside the library.
if (typeof hash !== 'function') {
  console.error(`oidc-provider 9 needs Node.js >= 20.12; this is ${process.version}`);
  process.exit(1);
}
const { default: Provider } = await import('oidc-provider');

const [portArg, configPath] = process.argv.slice(2);
if (portArg === undefined || configPath === undefined) {
  console.error('usage: node provider.mjs PORT CONFIG.json');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, 'utf8'));
// A provider with a wrong clock: oidc-provider reads the time only through Date.now (its
// epochTime helper), so the tokens it issues are dated by this clock, and consistently so.
const offsetMs = (config.clock_offset_seconds ?? 0) * 1000;
if (offsetMs) {
  const realNow = Date.now;
  Date.now = () => realNow() + offsetMs;
}
const accountsFile = typeof config.accounts === 'string'
  ? resolve(dirname(configPath), config.accounts) : null;

function accounts() {
  return accountsFile ? JSON.parse(readFileSync(accountsFile, 'utf8')) : (config.accounts ?? {});
}

// oidc-provider makes the ID token's `sub` the accountId, and the dev login form makes the
// accountId what was typed. So the accountId is the account's sub, and the login is mapped to it.
const subOf = (login, claims) => claims.sub ?? login;

function findBySub(sub) {
  for (const [login, claims] of Object.entries(accounts())) {
    if (subOf(login, claims) === sub) return claims;
  }
  return undefined;
}

// A fresh RS256 signing key on every start (the package's own dev keys are fixed and public).
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256' };

// Exit with the process that started this one: it holds our stdin open while it lives.
process.stdin.on('end', () => process.exit(0)).resume();

const server = createServer();
server.listen(Number(portArg), '127.0.0.1', async () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: config.clients ?? [],
    jwks: { keys: [signingKey] },
    ttl: { IdToken: config.id_token_ttl_seconds ?? 3600 },
    pkce: { required: () => true }, // every client must send a code_challenge (S256 only)
    claims: {
      openid: ['sub', 'hd', 'tid'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name'],
    },
    conformIdTokenClaims: false, // the scopes' claims go into the ID token too
    features: { devInteractions: { enabled: true } },
    async findAccount(ctx, sub) {
      const claims = findBySub(sub);
      if (!claims) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { ...findBySub(sub) ?? claims, sub };
        },
      };
    },
  });
  // The login form's `login` becomes the accountId: replace it with that account's sub. The body
  // read here is handed on as request.body, which oidc-provider's body parser accepts.
  provider.use(async (ctx, next) => {
    if (ctx.method === 'POST' && /^\/interaction\/[^/]+$/.test(ctx.path)
        && ctx.is('application/x-www-form-urlencoded')) {
      const chunks = [];
      for await (const chunk of ctx.req) chunks.push(chunk);
      const body = parseQuery(Buffer.concat(chunks).toString('utf8'));
      if (body.prompt === 'login') {
        const claims = accounts()[body.login];
        if (!claims) { // oidc-provider would answer 500 for an accountId findAccount refuses
          ctx.status = 403;
          ctx.body = `unknown login ${JSON.stringify(body.login)}`;
          return;
        }
        body.login = subOf(body.login, claims);
      }
      ctx.request.body = body;
    }
    await next();
  });
  // Static clients are checked on first use: check them now, so that a bad one fails the start.
  for (const { client_id: clientId } of config.clients ?? []) {
    try {
      await provider.Client.find(clientId);
    } catch (error) {
      console.error(`client ${clientId}: ${error.message}: ${error.error_description ?? ''}`);
      process.exit(1);
    }
  }
  server.on('request', provider.callback());
  console.log(`READY ${issuer}`);
});
