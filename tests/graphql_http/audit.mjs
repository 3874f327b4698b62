// Runs the graphql-http audit suite (GraphQL over HTTP conformance) against a
// hub: node audit.mjs URL TOKEN PURPOSE. Prints one JSON line per audit
// ({id, name, status, reason}); tests/test_graphql_http.py reads them.
import { serverAudits } from 'graphql-http';

const [url, token, purpose] = process.argv.slice(2);
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers || {});
  headers.set('authorization', `Bearer ${token}`);
  headers.set('x-purpose', purpose);
  return fetch(input, { ...init, headers });
};
for (const audit of serverAudits({ url, fetchFn })) {
  const result = await audit.fn();
  const status = result.status;  // ok, warn or error
  const reason = status === 'ok' ? '' : result.reason;
  console.log(JSON.stringify({ id: audit.id, name: audit.name, status, reason }));
}
