import { Pool } from 'undici'

/** What the upstream answered, whole: its status, its content type if any, its body. */
export interface UpstreamAnswer {
  status: number
  contentType: string | undefined
  body: Buffer
}

/** The upstream answered 5xx, or no answer came: the dependency failed. */
export class UpstreamFailure extends Error {
  readonly statusCode = 502
  readonly expose = true

  constructor (reason: string, options?: ErrorOptions) {
    super(`Bad gateway: ${reason}`, options)
    this.name = 'UpstreamFailure'
  }
}

/** The upstream's whole answer, body included, did not arrive within the timeout. */
export class UpstreamTimeout extends Error {
  readonly statusCode = 504
  readonly expose = true

  constructor (timeoutMs: number, options?: ErrorOptions) {
    super(`Upstream timed out after ${timeoutMs} ms`, options)
    this.name = 'UpstreamTimeout'
  }
}

// What a client is told about a network error, by its code. The error itself, with the
// upstream's address, goes to the log as the failure's cause.
const NETWORK_FAILURES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  UND_ERR_SOCKET: 'connection closed before an answer',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
}

/**
 * The HTTP service at one URL, called with GET over kept-alive connections. Answers below
 * 500 are the upstream's to give, so they resolve; the rest reject with an
 * `UpstreamFailure` (502) or an `UpstreamTimeout` (504).
 */
export class Upstream {
  readonly #pool: Pool
  readonly #path: string
  readonly #timeoutMs: number

  constructor (url: string, timeoutMs: number) {
    const { origin, pathname, search } = new URL(url)
    // undici's own header and body timeouts are off: the call's deadline covers both.
    this.#pool = new Pool(origin, { headersTimeout: 0, bodyTimeout: 0 })
    this.#path = pathname + search
    this.#timeoutMs = timeoutMs
  }

  /** GETs the URL; `signal` gives up on the call early. */
  async get (signal: AbortSignal): Promise<UpstreamAnswer> {
    const answer = await this.#fetch(signal)

    if (answer.status >= 500) throw new UpstreamFailure(`upstream answered ${answer.status}`)
    return answer
  }

  /** Ends the kept-alive connections once the calls in flight are over. */
  close (): Promise<void> {
    return this.#pool.close()
  }

  async #fetch (signal: AbortSignal): Promise<UpstreamAnswer> {
    const deadline = AbortSignal.timeout(this.#timeoutMs)

    try {
      const { statusCode, headers, body } = await this.#pool.request({
        method: 'GET',
        path: this.#path,
        signal: AbortSignal.any([signal, deadline]),
      })
      const contentType = headers['content-type']
      return {
        status: statusCode,
        contentType: typeof contentType === 'string' ? contentType : undefined,
        body: Buffer.from(await body.arrayBuffer()),
      }
    } catch (error) {
      if (deadline.aborted) throw new UpstreamTimeout(this.#timeoutMs, { cause: error })
      throw new UpstreamFailure(describeNetworkFailure(error), { cause: error })
    }
  }
}

function describeNetworkFailure (error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code
  return NETWORK_FAILURES[String(code)] ?? 'no valid answer'
}
