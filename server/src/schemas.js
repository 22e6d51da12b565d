// Request bodies (validated by Fastify's Ajv) and the message a 400 gives: the field, then what is wrong.
const name = { type: 'string', minLength: 1, maxLength: 512 }

export const executeBody = {
  type: 'object',
  required: ['module'],
  additionalProperties: false,
  properties: { module: name, input: {}, export: name },
}

export const invokeBody = {
  type: 'object',
  required: ['module', 'name'],
  additionalProperties: false,
  properties: { module: name, name, args: { type: 'array', maxItems: 256 } },
}

export const createInstanceBody = {
  type: 'object',
  required: ['module'],
  additionalProperties: false,
  properties: { module: name },
}

export const callBody = {
  type: 'object',
  additionalProperties: false,
  properties: { export: name, input: {} },
}

export const instanceParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
}

function fieldOf(dataVar, instancePath, child) {
  const path = instancePath.split('/').filter(Boolean)
  if (child !== undefined) path.push(child)
  return [dataVar, ...path].join('.')
}

/** Fastify's schemaErrorFormatter: the first problem, as "body.module: must be a string". */
export function describeSchemaError(errors, dataVar) {
  const e = errors[0]
  let message
  switch (e.keyword) {
    case 'required':
      message = `${fieldOf(dataVar, e.instancePath, e.params.missingProperty)}: is required`
      break
    case 'additionalProperties':
      message = `${fieldOf(dataVar, e.instancePath, e.params.additionalProperty)}: is not a known field`
      break
    case 'type':
      message = `${fieldOf(dataVar, e.instancePath)}: must be ${e.params.type === 'object' ? 'an object' : `a${/^[aeiou]/.test(e.params.type) ? 'n' : ''} ${e.params.type}`}`
      break
    case 'minLength':
      message = `${fieldOf(dataVar, e.instancePath)}: must not be empty`
      break
    default:
      message = `${fieldOf(dataVar, e.instancePath)}: ${e.message}`
  }
  return Object.assign(new Error(message), { statusCode: 400, code: 'FST_ERR_VALIDATION' })
}
