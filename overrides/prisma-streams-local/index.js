// See package.json: only `prisma dev` loads this, and this project does not use it.
export async function startLocalDurableStreamsServer() {
  throw new Error("`prisma dev` is not part of dtcp-broker: its streams server (@prisma/streams-local) is not installed");
}
