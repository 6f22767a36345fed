// See wrangler.toml: a Durable Object that echoes frames, the cost of the
// runtime alone (socket, hibernation API, one object per user). With
// `?durable=1` each frame is first written as our store writes a change:
// a row, made durable (`storage.sync()`, as before an apply), then a
// second row in a transaction: the floor of a durable acknowledgement.
// `?durable=relay` sends the frame between the two, as a change is pushed
// to the user's other devices (the floor of W3's relay); `?durable=write`
// sends it, then writes one transaction (no row made durable first): what
// a send issued just before a write costs.
import { DurableObject } from 'cloudflare:workers';

export class Floor extends DurableObject {
  async fetch(request) {
    const durable = new URL(request.url).searchParams.get('durable');
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ durable });
    if (durable) this.ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS frames (n INTEGER PRIMARY KEY, bytes BLOB)');
    return new Response(null, { status: 101, webSocket: client });
  }

  async webSocketMessage(ws, message) {
    const durable = ws.deserializeAttachment()?.durable;
    if (!durable) {
      ws.send(message);
      return;
    }
    const sql = this.ctx.storage.sql;
    if (durable !== 'write') {
      sql.exec('INSERT INTO frames (bytes) VALUES (?)', message);
      await this.ctx.storage.sync();
    }
    if (durable !== '1') ws.send(message);
    this.ctx.storage.transactionSync(() => {
      sql.exec('INSERT INTO frames (bytes) VALUES (?)', message);
      sql.exec('DELETE FROM frames WHERE n < (SELECT MAX(n) FROM frames) - 8');
    });
    if (durable === '1') ws.send(message);
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === '/health') return new Response('ok');
    if (request.headers.get('upgrade') !== 'websocket') return new Response('not found', { status: 404 });
    return env.FLOOR.get(env.FLOOR.idFromName(url.searchParams.get('user') ?? 'u')).fetch(request);
  },
};
