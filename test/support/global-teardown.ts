export default async function globalTeardown(): Promise<void> {
  const handles = (globalThis as { __tbRedis?: { stop(): Promise<void> }[] }).__tbRedis ?? [];
  await Promise.all(handles.map((handle) => handle.stop()));
}
