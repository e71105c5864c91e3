/** On SIGINT/SIGTERM: run the shutdown once (it drains the audit), then exit. A second signal exits at once. */
export function stopOnSignals(shutdown: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(130);
    stopping = true;
    console.error(`godotz: ${signal}, finishing open requests and writing the audit…`);
    shutdown().then(
      () => process.exit(0),
      (error) => {
        console.error(`godotz: shutdown failed: ${(error as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}
