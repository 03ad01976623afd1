/**
 * HTTP route of the node's admission control (src/runtime/admission.ts):
 *
 *   GET /v1/admission   the allow list (on or off, its size, the genesis validators always admitted),
 *                       the connections-per-IP limit, refusals by reason (not-allowed, per-ip, banned),
 *                       messages dropped for rate and accepted, by protocol, and each protocol's bucket
 *                       (limit, peers tracked now against the bound, evictions, the lowest level an
 *                       accepted message left: how close the busiest peer came to the limit).
 */
import type { Admission, AdmissionStatus } from '../runtime/admission.js'
import { pathParts } from './server.js'
import type { RouteHandler } from './server.js'

export function admissionRoutes (admission: () => Admission | undefined): RouteHandler {
  return async (method, url) => {
    const parts = pathParts(url)
    if (parts.length !== 2 || parts[0] !== 'v1' || parts[1] !== 'admission' || method !== 'GET') return null
    const current = admission()
    if (current == null) return { code: 503, body: { error: 'admission control not started' } }
    const body: AdmissionStatus & { trackedPeers: number } = { ...current.status(), trackedPeers: current.trackedPeers() }
    return { code: 200, body }
  }
}
