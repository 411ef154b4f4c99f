// A certified OpenID provider (panva/oidc-provider) for the client-authentication tests, run as a child
// process because the package is ESM only. argv[2] is JSON: { clients: [client metadata], resourceScope }.
// It listens on a free loopback port and writes one line, `ready <issuer>`, to stdout.
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const { clients } = JSON.parse(process.argv[2] ?? '{"clients":[]}');
const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // A token asked for with `resource` is issued for that resource: its audience, as introspection shows.
      getResourceServerInfo: (_ctx, resource) => ({
        scope: 'api:read',
        audience: resource,
        accessTokenFormat: 'opaque',
        accessTokenTTL: 3600,
      }),
    },
  },
  clientCredentials: {},
});
// Quiet: the provider warns on stderr about its development signing keys, which these tests do not use.
provider.on('server_error', (_ctx, error) => process.stderr.write(`server_error ${error.message}\n`));
server.on('request', provider.callback());
process.stdout.write(`ready ${issuer}\n`);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
