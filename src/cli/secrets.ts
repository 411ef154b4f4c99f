import { readFile } from 'node:fs/promises';
import { confirm, password } from '@inquirer/prompts';
import { UsageError } from './output';

export interface SecretSourceOptions {
  secretFile?: string;
  secretStdin?: boolean;
}

/** The help text of the options every secret-taking command shares. */
export const SECRET_FILE_HELP = 'read the secret (or API key) from this file; one trailing newline is dropped';
export const SECRET_STDIN_HELP = 'read the secret (or API key) from standard input';

/**
 * A secret from a file, standard input or a hidden prompt: never from an
 * argument, where shell history and `ps` would keep it.
 */
export async function readSecret(options: SecretSourceOptions, what: string): Promise<string> {
  if (options.secretFile !== undefined && options.secretStdin)
    throw new UsageError('Give --secret-file or --secret-stdin, not both');
  let secret: string;
  if (options.secretFile !== undefined) secret = dropFinalNewline(await readTextFile(options.secretFile, what));
  else if (options.secretStdin) secret = dropFinalNewline(await readStdin(what));
  else if (process.stdin.isTTY && process.stderr.isTTY)
    secret = await password({ message: `${what}:`, mask: false }, { output: process.stderr });
  else throw new UsageError(`No terminal to ask for the ${what}: use --secret-file PATH or --secret-stdin`);
  if (secret.length === 0) throw new UsageError(`The ${what} is empty`);
  return secret;
}

/** A PEM file or other secret material, read as it is. */
export async function readTextFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new UsageError(`Cannot read the ${what} file ${path} (${code})`);
  }
}

/**
 * PEM material (a private key, a certificate chain) from a file, or from
 * standard input when the path is `-`; read as it is, never from an argument.
 */
export async function readPemFile(path: string, what: string): Promise<string> {
  const text = path === '-' ? await readStdin(what) : await readTextFile(path, what);
  if (text.trim().length === 0) throw new UsageError(`The ${what} is empty`);
  return text;
}

/** Standard input is read once: a second option asking for it is a usage error. */
let stdinTakenBy: string | null = null;

async function readStdin(what: string): Promise<string> {
  if (stdinTakenBy !== null)
    throw new UsageError(`Standard input already gives the ${stdinTakenBy}: read the ${what} from a file`);
  stdinTakenBy = what;
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

function dropFinalNewline(text: string): string {
  return text.replace(/\r?\n$/, '');
}

/** Asks before a deletion; without a terminal, --yes is required. */
export async function confirmOrRefuse(yes: boolean | undefined, question: string): Promise<boolean> {
  if (yes) return true;
  if (!process.stdin.isTTY || !process.stderr.isTTY)
    throw new UsageError('Not a terminal: add --yes to delete without asking');
  return confirm({ message: question, default: false }, { output: process.stderr });
}
