// See wrangler.toml: a Durable Object that echoes frames, the cost of the
// runtime alone (socket, hibernation API, one object per user).
import { DurableObject } from 'cloudflare:workers';

export class Floor extends DurableObject {
  async fetch() {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client });
  }

  webSocketMessage(ws, message) {
    ws.send(message);
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
