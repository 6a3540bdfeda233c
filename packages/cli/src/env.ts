// The CLI's configuration from the environment (flags override it).
export interface CliEnv {
  url: string | undefined;
  token: string | undefined;
}

export function loadEnv(): CliEnv {
  return { url: process.env.VDI_URL || undefined, token: process.env.VDI_TOKEN || undefined };
}
