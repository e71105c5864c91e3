import { simulatedConfigYaml } from "../../cli/dev-config.ts";

/**
 * The dev configuration with glm-5.1's limits raised so that governance runs every step but never
 * refuses or queues at the benchmark's 50 connections: concurrency 1,000 slots, rpm and tpm far
 * above what one machine can send. The fallback to glm-4.7 stays, so health ordering runs too.
 */
export function governedConfigYaml(simulatorUrl: string): string {
  const yaml = simulatedConfigYaml(simulatorUrl);
  const from = "glm-5.1:                { provider: simulated-zai, family: glm, price: { input: 1.0, output: 3.2 }, max_concurrency: 10 }";
  if (!yaml.includes(from)) throw new Error("cli/dev-config.ts changed: update governedConfigYaml in bench/gateway/config.ts");
  return yaml.replace(from, "glm-5.1:                { provider: simulated-zai, family: glm, price: { input: 1.0, output: 3.2 }, max_concurrency: 1000, rpm: 100000000, tpm: 2000000000 }");
}

/**
 * For the gateway-overhead comparison with Portkey (which has no caps): the dev configuration
 * with glm-5.1's concurrency cap (10, the FR-L4-005 default) raised, so 50 connections measure
 * the gateway rather than a queue in front of the model.
 */
export function overheadConfigYaml(simulatorUrl: string): string {
  const yaml = simulatedConfigYaml(simulatorUrl);
  const from = "price: { input: 1.0, output: 3.2 }, max_concurrency: 10 }";
  if (!yaml.includes(from)) throw new Error("cli/dev-config.ts changed: update overheadConfigYaml in bench/gateway/config.ts");
  return yaml.replace(from, "price: { input: 1.0, output: 3.2 }, max_concurrency: 1000 }");
}
