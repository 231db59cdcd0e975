import type { IDefaultPolicyContext } from 'cockatiel'

import { CallTimeoutError } from './errors.ts'

type Call<T> = (context: IDefaultPolicyContext) => PromiseLike<T> | T

/**
 * Bounds `fn` to `timeoutMs`. The function gets a signal that aborts at the deadline (or
 * when the caller's own signal does), and the call rejects at the deadline even if the
 * function ignores that signal. With `unref`, the deadline's timer alone does not keep
 * the process alive.
 */
export function withTimeout<T> (
  fn: Call<T>,
  timeoutMs: number,
  breaker: string,
  unref = false
): Call<T> {
  return (context) => {
    const deadline = new AbortController()
    const signal = AbortSignal.any([context.signal, deadline.signal])
    const timedOut = Promise.withResolvers<never>()

    const timer = setTimeout(() => {
      const error = new CallTimeoutError(breaker, timeoutMs)
      deadline.abort(error)
      timedOut.reject(error)
    }, timeoutMs)
    if (unref) timer.unref()

    // Called synchronously, as cockatiel calls it, so the function sees its signal at once.
    try {
      return Promise.race([fn({ signal }), timedOut.promise]).finally(() => clearTimeout(timer))
    } catch (error) {
      clearTimeout(timer)
      throw error
    }
  }
}
