// The browser bundle of GraphiQL that scripts/vendor_graphiql.py builds into
// hub/http/static/graphiql/: upstream code only, re-exported for the hub's
// page script (hub/http/static/start.js). Nothing here talks to the network.
import { createElement } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';

// GraphiQL's stylesheets without the copy of Monaco's CSS and the data: URL
// web fonts that graphiql/style.css adds for its CDN build: Monaco's own CSS
// comes with its modules, and the page names local fonts (start.css).
import '@graphiql/react/style.css';
import '@graphiql/plugin-doc-explorer/style.css';
import '@graphiql/plugin-history/style.css';
import 'graphiql/graphiql.css';

// Monaco's workers, built beside this bundle and loaded from the hub itself
// (the CSP's worker-src 'self'), never from a CDN.
globalThis.MonacoEnvironment = {
  getWorker(_id, label) {
    const name = label === 'json' || label === 'graphql' ? label : 'editor';
    return new Worker(new URL(`./${name}.worker.js`, import.meta.url), { name: `graphiql-${name}` });
  },
};

export { createElement, createRoot, GraphiQL };
