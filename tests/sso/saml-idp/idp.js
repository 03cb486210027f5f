// The SSO tests' SAML 2.0 identity provider on loopback: samlify 2.15.1 (MIT) signs its
// responses; the HTTP pages and the response's XML are this file's. Started by tests/sso/saml.py
// (SAMLProvider); not a product.
//
//   node idp.js CONFIG.json        prints `READY http://127.0.0.1:<port>` once it listens
//
// CONFIG.json is read again on every request, so a test can rewrite it between two steps:
// {
//   "port": 0,                                    0 picks a free port
//   "entity_id": "...",                           default http://127.0.0.1:<port>/metadata
//   "key_file": "idp.key", "cert_file": "idp.crt",   PEM, relative to CONFIG.json's folder
//   "sp": {"entity_id": "...", "acs_url": "..."},
//   "users": {"alice": {"password": "pw", "name_id": "alice-123",
//                       "name_id_format": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
//                       "attributes": {"email": "alice@example.com"}}},
//   "mode": {"sign": "assertion|response|both|none", "bad_key_file": null,
//            "lifetime_seconds": 300, "skew_seconds": 0,
//            "audience": ..., "destination": ..., "issuer": ..., "in_response_to": ...}
// }
// The mode's overrides make the wrong responses the negative tests need; each is a response a
// misconfigured or hostile provider could send.
// Routes: GET /metadata; GET /sso?SAMLRequest=&RelayState= (the sign-in form: username, password);
//         POST /sso -> a page that posts SAMLResponse and RelayState to the ACS;
//         GET /idp-initiated?username=&RelayState= -> a response nobody asked for.
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const samlify = require('samlify');

// We only *parse* AuthnRequests from our own SP; skip XSD validation (needs Java/xmllint otherwise).
samlify.setSchemaValidator({ validate: () => Promise.resolve('skipped') });

const cfgPath = path.resolve(process.argv[2]);
let boundPort = null;
function loadCfg() {
  const c = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
  const rel = (p) => path.resolve(path.dirname(cfgPath), p);
  c.key = fs.readFileSync(rel(c.key_file), 'utf8');
  c.cert = fs.readFileSync(rel(c.cert_file), 'utf8');
  c.bad_key = c.mode && c.mode.bad_key_file ? fs.readFileSync(rel(c.mode.bad_key_file), 'utf8') : null;
  c.mode = Object.assign({ sign: 'both', lifetime_seconds: 300, skew_seconds: 0 }, c.mode || {});
  c.entity_id = c.entity_id || `http://127.0.0.1:${boundPort}/metadata`;
  return c;
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function entities(cfg) {
  const base = `http://127.0.0.1:${boundPort}`;
  const signAssertion = cfg.mode.sign === 'assertion' || cfg.mode.sign === 'both';
  const signMessage = cfg.mode.sign === 'response' || cfg.mode.sign === 'both';
  const idp = samlify.IdentityProvider({
    entityID: cfg.entity_id,
    privateKey: cfg.bad_key || cfg.key, // signing with a key that does not match the published cert = "wrongly signed"
    signingCert: cfg.cert,
    wantAuthnRequestsSigned: false,
    singleSignOnService: [
      { Binding: samlify.Constants.namespace.binding.redirect, Location: `${base}/sso` },
      { Binding: samlify.Constants.namespace.binding.post, Location: `${base}/sso` },
    ],
    singleLogoutService: [{ Binding: samlify.Constants.namespace.binding.redirect, Location: `${base}/slo` }],
    requestSignatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  });
  const sp = samlify.ServiceProvider({
    entityID: cfg.sp.entity_id,
    wantAssertionsSigned: signAssertion || cfg.mode.sign === 'none',
    wantMessageSigned: signMessage,
    assertionConsumerService: [{ Binding: samlify.Constants.namespace.binding.post, Location: cfg.sp.acs_url }],
  });
  return { idp, sp };
}

function buildResponseXml(cfg, user, inResponseTo) {
  const now = new Date(Date.now() + cfg.mode.skew_seconds * 1000);
  const later = new Date(now.getTime() + cfg.mode.lifetime_seconds * 1000);
  const id = '_' + crypto.randomBytes(20).toString('hex');
  const aid = '_' + crypto.randomBytes(20).toString('hex');
  const m = cfg.mode;  // test knobs: override audience / destination / issuer / InResponseTo
  if (m.in_response_to !== undefined) inResponseTo = m.in_response_to;
  const issuer = m.issuer || cfg.entity_id;
  const dest = m.destination || cfg.sp.acs_url;
  const irt = inResponseTo ? ` InResponseTo="${esc(inResponseTo)}"` : '';
  const attrs = Object.entries(user.attributes || {}).map(([name, val]) =>
    `<saml:Attribute Name="${esc(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">` +
    [].concat(val).map((v) => `<saml:AttributeValue xsi:type="xs:string">${esc(v)}</saml:AttributeValue>`).join('') +
    '</saml:Attribute>').join('');
  return '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"' +
    ` ID="${id}" Version="2.0" IssueInstant="${now.toISOString()}" Destination="${esc(dest)}"${irt}>` +
    `<saml:Issuer>${esc(issuer)}</saml:Issuer>` +
    '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>' +
    '<saml:Assertion xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema"' +
    ` ID="${aid}" Version="2.0" IssueInstant="${now.toISOString()}">` +
    `<saml:Issuer>${esc(issuer)}</saml:Issuer>` +
    `<saml:Subject><saml:NameID Format="${esc(user.name_id_format || 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent')}">${esc(user.name_id)}</saml:NameID>` +
    '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">' +
    `<saml:SubjectConfirmationData NotOnOrAfter="${later.toISOString()}" Recipient="${esc(dest)}"${irt}/>` +
    '</saml:SubjectConfirmation></saml:Subject>' +
    `<saml:Conditions NotBefore="${now.toISOString()}" NotOnOrAfter="${later.toISOString()}">` +
    `<saml:AudienceRestriction><saml:Audience>${esc(m.audience || cfg.sp.entity_id)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
    `<saml:AuthnStatement AuthnInstant="${now.toISOString()}" SessionIndex="${aid}"><saml:AuthnContext>` +
    '<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>' +
    '</saml:AuthnContext></saml:AuthnStatement>' +
    (attrs ? `<saml:AttributeStatement>${attrs}</saml:AttributeStatement>` : '') +
    '</saml:Assertion></samlp:Response>';
}

async function samlResponse(cfg, user, inResponseTo) {
  const { idp, sp } = entities(cfg);
  const reqInfo = inResponseTo ? { extract: { request: { id: inResponseTo } } } : {};
  const out = await idp.createLoginResponse(sp, reqInfo, 'post', { email: user.name_id }, {
    customTagReplacement: () => ({ id: 'x', context: buildResponseXml(cfg, user, inResponseTo) }),
  });
  let b64 = out.context;
  if (cfg.mode.sign === 'none') { // strip every signature samlify added
    const xml = Buffer.from(b64, 'base64').toString('utf8').replace(/<ds:Signature[\s\S]*?<\/ds:Signature>/g, '');
    b64 = Buffer.from(xml, 'utf8').toString('base64');
  }
  return { b64, acs: cfg.sp.acs_url };
}

function autopost(acs, b64, relayState) {
  return '<!doctype html><html><body onload="document.forms[0].submit()">' +
    `<form method="post" action="${esc(acs)}"><input type="hidden" name="SAMLResponse" value="${esc(b64)}">` +
    (relayState ? `<input type="hidden" name="RelayState" value="${esc(relayState)}">` : '') +
    '<noscript><button type="submit">Continue</button></noscript></form></body></html>';
}

function send(res, code, body, type = 'text/html; charset=utf-8') {
  res.writeHead(code, { 'Content-Type': type });
  res.end(body);
}

async function handle(req, res) {
  const url = new URL(req.url, `http://127.0.0.1:${boundPort}`);
  const cfg = loadCfg();
  if (req.method === 'GET' && url.pathname === '/metadata') {
    return send(res, 200, entities(cfg).idp.getMetadata(), 'application/samlmetadata+xml');
  }
  if (req.method === 'GET' && url.pathname === '/sso') {
    const { idp, sp } = entities(cfg);
    // Validates the AuthnRequest (deflate+base64, issuer) - rejects garbage.
    const parsed = await idp.parseLoginRequest(sp, 'redirect', { query: Object.fromEntries(url.searchParams), octetString: '' });
    const reqId = parsed.extract.request.id;
    return send(res, 200, '<!doctype html><html><body><h1>District sign-in (test SAML provider)</h1>' +
      `<form method="post" action="/sso"><input type="hidden" name="SAMLRequest" value="${esc(url.searchParams.get('SAMLRequest'))}">` +
      `<input type="hidden" name="RelayState" value="${esc(url.searchParams.get('RelayState') || '')}">` +
      `<input type="hidden" name="request_id" value="${esc(reqId)}">` +
      '<label>Username <input name="username"></label><label>Password <input name="password" type="password"></label>' +
      '<button type="submit">Sign in</button></form></body></html>');
  }
  if (req.method === 'POST' && url.pathname === '/sso') {
    let body = '';
    for await (const chunk of req) body += chunk;
    const f = new URLSearchParams(body);
    const { idp, sp } = entities(cfg);
    const parsed = await idp.parseLoginRequest(sp, 'redirect', { query: { SAMLRequest: f.get('SAMLRequest') }, octetString: '' });
    const user = cfg.users[f.get('username')];
    if (!user || user.password !== f.get('password')) return send(res, 401, 'invalid credentials');
    const { b64, acs } = await samlResponse(cfg, user, parsed.extract.request.id);
    return send(res, 200, autopost(acs, b64, f.get('RelayState')));
  }
  if (req.method === 'GET' && url.pathname === '/idp-initiated') {
    const user = cfg.users[url.searchParams.get('username')];
    if (!user) return send(res, 404, 'no such user');
    const { b64, acs } = await samlResponse(cfg, user, null);
    return send(res, 200, autopost(acs, b64, url.searchParams.get('RelayState')));
  }
  send(res, 404, 'not found', 'text/plain');
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((e) => { console.error(e); send(res, 400, `error: ${e && e.message ? e.message : e}`, 'text/plain'); });
});
server.listen(JSON.parse(fs.readFileSync(cfgPath, 'utf8')).port || 0, '127.0.0.1', () => {
  boundPort = server.address().port;
  console.log(`READY http://127.0.0.1:${boundPort}`);
});
// Exit with the process that started this one: it holds our stdin open while it lives.
process.stdin.on('end', () => process.exit(0)).resume();
process.on('SIGTERM', () => server.close(() => process.exit(0)));
