// PostGraphile 5, the peer bench/pg.py measures the hub against: the Amber preset on the
// health-code source's PostgreSQL database (PEER_DSN), a pg pool of PEER_POOL connections
// (the bare asyncpg app's size), production mode, no explain, no GraphiQL.
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";

export default {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: process.env.PEER_DSN,
      schemas: ["public"],
      poolConfig: { max: Number(process.env.PEER_POOL || "16") },
      pubsub: false,
    }),
  ],
  grafserv: {
    host: "127.0.0.1",
    port: Number(process.env.PEER_PORT || "5678"),
    graphiql: false,
  },
  grafast: { explain: false },
};
