// Bearer tokens (--tokens): who a request is, and which modules it may use. Without a tokens
// file every request is the anonymous tenant and may use every module.
import { unauthorized } from './errors.js'

const ANONYMOUS = Object.freeze({ tenant: 'anonymous', mayUse: () => true })
const BEARER = /^Bearer\s+(\S+)\s*$/i

class Access {
  constructor(tenant, modules) {
    this.tenant = tenant
    this.modules = modules
  }

  mayUse(name) {
    return this.modules === '*' || this.modules.has(name)
  }
}

/** The access of a request's Authorization header; throws 401 when tokens are required and it has none that is known. */
export function accessOf(tokens, header) {
  if (!tokens) return ANONYMOUS
  if (header === undefined) throw unauthorized('an Authorization: Bearer <token> header is required')
  const match = BEARER.exec(header)
  if (!match) throw unauthorized('the Authorization header is not "Bearer <token>"')
  const entry = tokens.get(match[1])
  if (!entry) throw unauthorized('the bearer token is not known')
  return new Access(entry.tenant, entry.modules)
}
