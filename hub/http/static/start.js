// The hub's GraphiQL page (served by hub/http/graphiql.py): a form asks for a
// token and a purpose first, and GraphiQL is mounted only then, so the page
// sends nothing to /graphql before the user has given a token.
//
// The token lives in this script's memory only: it is never put into the
// header editor, the URL or the browser's storage. GraphiQL is given a storage
// of its own in memory (tabs, history, theme), so the page writes nothing to
// localStorage or sessionStorage; reloading the page forgets everything.

const endpoint = window.location.pathname;
const bundle = import('./graphiql/graphiql.js');

const form = document.getElementById('login');
const tokenInput = document.getElementById('token');
const purposeInput = document.getElementById('purpose');
const purposeList = document.getElementById('purposes');
const about = document.getElementById('about');
const problem = document.getElementById('problem');
bundle.catch((error) => { problem.textContent = `GraphiQL could not be loaded: ${error}`; });

/** The token's claims, read for display only: the hub verifies the signature. */
function claimsOf(token) {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const json = atob(parts[1].replace(/-/g, '+').replace(/_/g, '/'));
    const bytes = Uint8Array.from(json, (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === 'object' ? claims : null;
  } catch {
    return null;
  }
}

function bareToken() {
  return tokenInput.value.trim().replace(/^Bearer\s+/i, '');
}

function describe(claims) {
  const scope = Object.entries(claims.scope || {})
    .map(([kind, ids]) => `${kind}=${[].concat(ids).join(',')}`).join(' ');
  const expires = typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : null;
  const expired = expires !== null && expires.getTime() < Date.now();
  return `Department ${claims.dept || '?'}` + (claims.sub ? ` (${claims.sub})` : '') +
    (scope ? `, scope ${scope}` : '') +
    (expires ? (expired ? `; expired ${expires.toLocaleString()}` : `; valid until ${expires.toLocaleString()}`) : '');
}

function onToken() {
  problem.textContent = '';
  purposeList.replaceChildren();
  const claims = bareToken() ? claimsOf(bareToken()) : null;
  if (!claims) {
    about.textContent = bareToken() ? 'This does not look like a token printed by `hub demo` or `hub token`.' : '';
    return;
  }
  about.textContent = describe(claims);
  const purposes = Array.isArray(claims.purposes) ? claims.purposes.map(String) : [];
  for (const purpose of purposes) {
    const option = document.createElement('option');
    option.value = purpose;
    purposeList.append(option);
  }
  if (purposes.length && !purposes.includes(purposeInput.value)) purposeInput.value = purposes[0];
}

/** A Storage kept in memory: GraphiQL's tabs, history and settings for this page only. */
function memoryStorage() {
  const items = new Map();
  return {
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => { items.set(key, String(value)); },
    removeItem: (key) => { items.delete(key); },
    clear: () => { items.clear(); },
    key: (i) => [...items.keys()][i] ?? null,
    get length() { return items.size; },
  };
}

function fetcherFor(token) {
  return async (params, options) => {
    // The header editor's headers (X-Purpose and any others), then the token,
    // which the editor cannot replace.
    const headers = {
      ...((options && options.headers) || {}),
      'Content-Type': 'application/json',
      Accept: 'application/graphql-response+json, application/json',
      Authorization: `Bearer ${token}`,
    };
    const response = await fetch(endpoint, {
      method: 'POST', headers, body: JSON.stringify(params),
      credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer',
    });
    const type = response.headers.get('content-type') || '';
    if (!type.includes('json')) {
      throw new Error(`the hub answered ${response.status} ${response.statusText} (${type || 'no content type'})`);
    }
    return response.json();
  };
}

/** A query every department may run: the schema it sees is its own (Docs, top left).
 * Anonymous on purpose: GraphiQL reads the operation name from the editor a moment
 * after each edit, so a named default would be sent with a query typed over it
 * and run straight away ("Unknown operation named ..."). */
function defaultQuery(claims, purpose) {
  return [
    `# ${claims.dept || '?'}, purpose ${purpose}.`,
    '# The docs (top left) show what this token may read;',
    '# run with Ctrl-Enter or the run button.',
    '{',
    '  __typename',
    '}',
    '',
  ].join('\n');
}

async function connect(event) {
  event.preventDefault();
  const token = bareToken();
  const purpose = purposeInput.value.trim();
  const claims = claimsOf(token);
  if (!claims) {
    problem.textContent = 'Paste a token printed by `hub demo` or `hub token`.';
    return;
  }
  if (!purpose) {
    problem.textContent = 'Choose a purpose the token allows.';
    return;
  }
  let GraphiQL, createElement, createRoot;
  try {
    ({ GraphiQL, createElement, createRoot } = await bundle);
  } catch (error) {
    problem.textContent = `GraphiQL could not be loaded: ${error}`;
    return;
  }
  tokenInput.value = '';
  document.getElementById('signed-in').textContent = describe(claims) + `; purpose ${purpose}`;
  document.getElementById('login').hidden = true;
  document.getElementById('session').hidden = false;
  const root = document.getElementById('graphiql');
  root.hidden = false;
  const props = {
    fetcher: fetcherFor(token),
    storage: memoryStorage(),
    defaultQuery: defaultQuery(claims, purpose),
    defaultHeaders: JSON.stringify({ 'X-Purpose': purpose }, null, 2),
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: false,
    showPersistHeadersSettings: false,
    defaultEditorToolsVisibility: 'headers',
  };
  createRoot(root).render(createElement(GraphiQL, props));
}

tokenInput.addEventListener('input', onToken);
form.addEventListener('submit', connect);
// Forgetting the token is reloading the page: nothing of it is kept anywhere else.
document.getElementById('forget').addEventListener('click', () => window.location.reload());
form.querySelector('button[type=submit]').disabled = false;
