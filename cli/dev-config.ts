/**
 * The configuration `godotz dev --simulate` serves: the models of godotz.example.yaml, each on a
 * provider named `simulated-*` that points at the local simulator, so nothing leaves the machine
 * and nobody mistakes a simulated answer for a real one.
 */
export function simulatedConfigYaml(simulatorUrl: string): string {
  return `gateway:
  master_key: env:GODOTZ_MASTER_KEY
providers:
  simulated-zai:       { kind: openai,    base_url: ${simulatorUrl}/openai/v1,    api_key: env:GODOTZ_SIMULATOR_KEY }
  simulated-google:    { kind: gemini,    base_url: ${simulatorUrl}/gemini/v1beta, api_key: env:GODOTZ_SIMULATOR_KEY }
  simulated-anthropic: { kind: anthropic, base_url: ${simulatorUrl}/anthropic/v1, api_key: env:GODOTZ_SIMULATOR_KEY }
models:
  glm-5.1:                { provider: simulated-zai, family: glm, price: { input: 1.0, output: 3.2 }, max_concurrency: 10 }
  glm-4.7:                { provider: simulated-zai, family: glm, price: { input: 0.6, output: 2.2 }, max_concurrency: 2 }
  gemini-3.1-pro-low:     { provider: simulated-google, family: gemini, vision: true, price: { input: 1.25, output: 5.0 } }
  claude-sonnet-4.5:      { provider: simulated-anthropic, family: claude, vision: true, price: { input: 3.0, output: 15.0 } }
  text-embedding-3-small: { provider: simulated-zai, family: openai-embedding, type: embedding, price: { input: 0.02, output: 0 } }
  gemini-embedding-001:   { provider: simulated-google, family: gemini-embedding, type: embedding, price: { input: 0.15, output: 0 } }
routing:
  fallbacks: { glm-5.1: [glm-4.7] }
  vision_fallback: gemini-3.1-pro-low
  roles: { coder: glm, critic: claude }
cache: { ttl_seconds: 3600 }
hardcore: false
`;
}
