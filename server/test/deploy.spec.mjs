// The files for running the server elsewhere, which cannot run here (no Docker, no cluster):
// the Dockerfile is linted (dockerfilelint; hadolint is not installable offline) and its shape
// checked with a Dockerfile parser, the Kubernetes manifest parsed as YAML and checked for what
// the README promises — and every flag they pass is one the server knows.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { DockerfileParser } from 'dockerfile-ast'
import { parseAllDocuments } from 'yaml'
import { describe, expect, test } from 'vitest'
import { USAGE } from '../src/config.js'
import { serverDir } from './helpers.mjs'

const repo = join(serverDir, '..')
const flagsOf = (args) => args.filter((a) => a.startsWith('--'))
const knownFlag = (flag) => USAGE.includes(`${flag} `) || USAGE.includes(`${flag}]`)

describe('Dockerfile', () => {
  const file = join(serverDir, 'Dockerfile')
  const dockerfile = DockerfileParser.parse(readFileSync(file, 'utf8'))
  const instructions = dockerfile.getInstructions()
  const of = (keyword) => instructions.filter((i) => i.getKeyword() === keyword)

  test('passes dockerfilelint', () => {
    const bin = join(repo, 'node_modules', '.bin', 'dockerfilelint')
    // Exit status 0 means no issues; anything else throws with the report.
    execFileSync(bin, [file], { encoding: 'utf8' })
  })

  test('builds the addon in a builder stage and runs on node slim as a non-root user', () => {
    const froms = dockerfile.getFROMs()
    expect(froms.length).toBe(2)
    expect(froms[0].getImageName()).toBe('node')
    expect(froms[0].getBuildStage()).toBe('build')
    expect(froms[1].getImageTag()).toMatch(/-slim$/)
    expect(of('RUN').some((i) => i.getTextContent().includes('cargo build --release'))).toBe(true)
    // The run stage copies only from the builder, and its user is not root.
    const runStage = instructions.filter((i) => i.getRange().start.line > froms[1].getRange().start.line)
    const copies = runStage.filter((i) => i.getKeyword() === 'COPY')
    expect(copies.every((c) => c.getTextContent().includes('--from=build'))).toBe(true)
    const user = runStage.filter((i) => i.getKeyword() === 'USER').map((i) => i.getArguments()[0].getValue())
    expect(user).toEqual(['node'])
    expect(of('HEALTHCHECK')[0].getTextContent()).toContain('/health')
  })

  test('its entrypoint starts the server with flags it knows, and the files it copies exist', () => {
    const entry = JSON.parse(of('ENTRYPOINT')[0].getTextContent().replace(/^ENTRYPOINT\s+/, ''))
    expect(entry.slice(0, 2)).toEqual(['node', '/app/bin/wasm-probe-server.js'])
    for (const flag of flagsOf(entry)) expect(knownFlag(flag), flag).toBe(true)
    for (const copy of of('COPY')) {
      if (copy.getTextContent().includes('--from=')) continue
      const args = copy.getArguments().map((a) => a.getValue())
      for (const source of args.slice(0, -1)) expect(existsSync(join(repo, source)), source).toBe(true)
    }
  })
})

describe('Kubernetes manifest', () => {
  const docs = parseAllDocuments(readFileSync(join(serverDir, 'deploy', 'kubernetes.yaml'), 'utf8'))
  const objects = docs.map((d) => {
    expect(d.errors).toEqual([])
    return d.toJS()
  })
  const deployment = objects.find((o) => o.kind === 'Deployment')
  const service = objects.find((o) => o.kind === 'Service')

  test('is a Deployment and a Service of the right API versions, the Service selecting the pods', () => {
    expect(objects.map((o) => `${o.apiVersion} ${o.kind}`)).toEqual(['apps/v1 Deployment', 'v1 Service'])
    const labels = deployment.spec.template.metadata.labels
    expect(deployment.spec.selector.matchLabels).toEqual(labels)
    expect(service.spec.selector).toEqual(labels)
    const container = deployment.spec.template.spec.containers[0]
    expect(container.ports.map((p) => p.name)).toContain(service.spec.ports[0].targetPort)
  })

  test('readiness on /health, a grace period longer than the drain, non-root, read-only modules, cache on an emptyDir', () => {
    const pod = deployment.spec.template.spec
    const container = pod.containers[0]
    expect(container.readinessProbe.httpGet.path).toBe('/health')
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(10)
    expect(pod.securityContext.runAsNonRoot).toBe(true)
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true)
    const mount = (path) => container.volumeMounts.find((m) => m.mountPath === path)
    const volume = (name) => pod.volumes.find((v) => v.name === name)
    expect(mount('/modules').readOnly).toBe(true)
    expect(volume(mount('/modules').name).persistentVolumeClaim.readOnly).toBe(true)
    // The Dockerfile's entrypoint puts the compiled-code cache in /cache.
    expect(volume(mount('/cache').name).emptyDir).toBeDefined()
    for (const flag of flagsOf(container.args)) expect(knownFlag(flag), flag).toBe(true)
    // The files the args name are mounted.
    for (const path of container.args.filter((a) => a.startsWith('/'))) {
      expect(container.volumeMounts.some((m) => path.startsWith(`${m.mountPath}/`)), path).toBe(true)
    }
  })
})
