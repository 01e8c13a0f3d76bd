// The OpenID provider of the single sign-on tests: the certified `oidc-provider` package with a
// plain login form, on 127.0.0.1 (OIDC_PORT, default 9400). Run by tests/env/oidc.sh.
//
// - Client `nexbii` / secret `nexbii-test-secret`, authorization code with PKCE required; any
//   loopback redirect URI ending in /api/v1/auth/oidc/callback is accepted (the instances under
//   test listen on free ports).
// - Users live in memory and are made by the tests: `PUT /test/users/<name>` with
//   `{"password": "...", "groups": ["..."], "email": "..."}` (again to change the groups).
// - Claims: `preferred_username`, `email`, `groups` (scopes profile, email, groups). The ID token
//   of the code flow carries only `sub` (the package's default): the relying party reads the
//   rest from the user-info endpoint.
// - `GET /interaction/<uid>` shows a form (`login`, `password`) posted to
//   `/interaction/<uid>/login`; consent is given without asking.
import http from 'node:http';
import Provider from 'oidc-provider';

const PORT = Number(process.env.OIDC_PORT || 9400);
const ISSUER = `http://127.0.0.1:${PORT}`;
const CALLBACK = /^http:\/\/(127\.0\.0\.1|localhost):\d{1,5}\/api\/v1\/auth\/oidc\/callback$/;

const users = new Map();

const provider = new Provider(ISSUER, {
  clients: [
    {
      client_id: 'nexbii',
      client_secret: 'nexbii-test-secret',
      redirect_uris: ['http://127.0.0.1:8080/api/v1/auth/oidc/callback'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name'],
    email: ['email'],
    groups: ['groups'],
  },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['nexbii-oidc-test-cookie-key'] },
  async findAccount(_ctx, id) {
    const u = users.get(id);
    if (!u) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: id, email: u.email, groups: u.groups };
      },
    };
  },
});
provider.proxy = false;

// Loopback callbacks on any port (RFC 8252 allows this for native apps; here for the tests).
const allowed = provider.Client.prototype.redirectUriAllowed;
provider.Client.prototype.redirectUriAllowed = function (uri) {
  return CALLBACK.test(uri) || allowed.call(this, uri);
};

function body(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (c) => {
      data += c;
      if (data.length > 1e5) reject(new Error('body too large'));
    });
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}

function send(res, status, type, text) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(text);
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginForm(uid, error) {
  return `<!doctype html><html><head><title>Test OpenID provider</title></head><body>
<h1>Sign in</h1>${error ? `<p class="error">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<input name="login" autofocus><input name="password" type="password"><button type="submit">Sign in</button>
</form></body></html>`;
}

// Consent is given for whatever the client asked (the test client is first party).
async function consent(details) {
  const { prompt, params, session, grantId } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  return grant.save();
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, 'text/plain', 'interaction mismatch');
  if (details.prompt.name === 'consent') {
    const grantId = await consent(details);
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  if (action !== 'login') return send(res, 200, 'text/html', loginForm(uid));
  const form = new URLSearchParams(await body(req));
  const u = users.get(form.get('login') || '');
  if (!u || u.password !== form.get('password')) return send(res, 200, 'text/html', loginForm(uid, 'wrong login or password'));
  return provider.interactionFinished(req, res, { login: { accountId: form.get('login') } }, { mergeWithLastSubmission: false });
}

const callback = provider.callback();
http
  .createServer(async (req, res) => {
    try {
      const url = new URL(req.url, ISSUER);
      const user = url.pathname.match(/^\/test\/users\/([A-Za-z0-9_.@-]{1,128})$/);
      if (user && req.method === 'PUT') {
        const u = JSON.parse(await body(req));
        users.set(user[1], { password: String(u.password), groups: (u.groups || []).map(String), email: u.email ?? `${user[1]}@example.test` });
        return send(res, 204, 'text/plain', '');
      }
      const step = url.pathname.match(/^\/interaction\/([^/]+)(?:\/(login))?$/);
      if (step && (req.method === 'GET' || (req.method === 'POST' && step[2]))) return await interaction(req, res, step[1], step[2]);
      return callback(req, res);
    } catch (e) {
      console.error(e);
      if (!res.headersSent) send(res, 500, 'text/plain', 'test provider error');
    }
  })
  .listen(PORT, '127.0.0.1', () => console.log(`test OpenID provider on ${ISSUER}`));
