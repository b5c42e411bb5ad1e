// The conformance scenarios (conformance/scenarios.json, read through the
// test hook `testHookScenarios` into typed steps) played through the Swift
// API: CarnetStore, the Swift layer (Carnet.swift) and CarnetError. Every
// step of the vocabulary is supported; an action this file does not handle
// would not compile (the `switch` over StepAction is exhaustive), and a step
// the hook does not know fails the whole file.
import Foundation

#if canImport(CarnetCore)
import CarnetCore
#endif

/// A check that failed (as opposed to an error thrown by the API).
struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

// ---- the codes the scenario file names the API's enums by

/// The enrollment's role as its code.
func roleCode(_ e: DeviceEnrollment) -> String {
    switch e.role {
    case .mediator: return "mediator"
    case .supervisor: return "supervisor"
    }
}

/// A progress report's phase as its code.
func phaseCode(_ s: SyncState) -> String {
    switch s.phase {
    case .push: return "push"
    case .pull: return "pull"
    case .photos: return "photos"
    case .done: return "done"
    }
}

/// A contact link's state as its code.
func linkStateCode(_ l: ContactLink) -> String {
    switch l.state {
    case .present: return "present"
    case .erased: return "erased"
    case .unknown: return "unknown"
    }
}

/// A report status as its code (`in_progress`).
func statusCode(_ s: ReportStatus) -> String {
    switch s {
    case .reported: return "reported"
    case .forwarded: return "forwarded"
    case .inProgress: return "in_progress"
    case .resolved: return "resolved"
    case .closed: return "closed"
    case .rejected: return "rejected"
    case .duplicate: return "duplicate"
    }
}

func kindCode(_ k: Kind) -> String {
    switch k {
    case .note: return "note"
    case .report: return "report"
    case .contact: return "contact"
    case .activity: return "activity"
    }
}

/// An error's kind name and the attributes a scenario may check.
func errorKind(_ e: CarnetError) -> (String, [String: String]) {
    switch e {
    case let .InvalidInput(field, _): return ("InvalidInput", ["field": field])
    case let .InvalidTransition(from, to, allowed):
        return ("InvalidTransition", ["from": statusCode(from), "to": statusCode(to),
                                      "allowed": allowed.map(statusCode).joined(separator: ", ")])
    case let .NotFound(id): return ("NotFound", ["id": id])
    case let .Erased(id): return ("Erased", ["id": id])
    case .WrongKey: return ("WrongKey", [:])
    case .NotEnrolled: return ("NotEnrolled", [:])
    case .Wiped: return ("Wiped", [:])
    case .UpdateRequired: return ("UpdateRequired", [:])
    case .ServerTooOld: return ("ServerTooOld", [:])
    case .Network: return ("Network", [:])
    case .Cancelled: return ("Cancelled", [:])
    case .Storage: return ("Storage", [:])
    case .Internal: return ("Internal", [:])
    case .PhotoTooLarge: return ("PhotoTooLarge", [:])
    case let .TooManyPhotos(limit): return ("TooManyPhotos", ["limit": String(limit)])
    case .PendingPhotosFull: return ("PendingPhotosFull", [:])
    case .NotAnImage: return ("NotAnImage", [:])
    case let .PhotoNotFound(hash): return ("PhotoNotFound", ["hash": hash])
    case let .PhotoNotDownloaded(hash): return ("PhotoNotDownloaded", ["hash": hash])
    case let .PhotoErased(hash): return ("PhotoErased", ["hash": hash])
    case let .PhotosNotAllowed(kind): return ("PhotosNotAllowed", ["kind": kindCode(kind)])
    }
}

// ---- reading records by path

func camel(_ snake: String) -> String {
    let parts = snake.split(separator: "_").map(String.init)
    guard let first = parts.first else { return snake }
    return first + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
}

/// `v` without its Optional wrapping; nil for nil.
func unwrap(_ v: Any) -> Any? {
    let m = Mirror(reflecting: v)
    guard m.displayStyle == .optional else { return v }
    guard let inner = m.children.first else { return nil }
    return unwrap(inner.value)
}

func isPlain(_ v: Any) -> Bool {
    v is String || v is Bool || v is Int64 || v is Double || v is ReportStatus || v is Kind
}

func walk(_ v: Any?, _ seg: String, _ path: String) throws -> Any? {
    guard let v = v else { return nil }
    if let link = v as? ContactLink, seg == "state" { return linkStateCode(link) }
    if isPlain(v) { throw Failure("`\(seg)` in path `\(path)` goes inside a plain value") }
    let m = Mirror(reflecting: v)
    if m.displayStyle == .collection {
        return try m.children.map { try walk(unwrap($0.value), seg, path) } as [Any?]
    }
    guard let child = m.children.first(where: { $0.label == camel(seg) }) else {
        throw Failure("no field `\(seg)` in path `\(path)`")
    }
    return unwrap(child.value)
}

/// The value at `path` of `record` (`id` and `kind` are the record's own).
func readPath(_ record: Record, _ path: String) throws -> Any? {
    if path == "id" { return record.id }
    if path == "kind" { return kindCode(record.kind) }
    let inner: Any
    switch record {
    case let .note(x): inner = x
    case let .report(x): inner = x
    case let .contact(x): inner = x
    case let .activity(x): inner = x
    }
    var v: Any? = inner
    for seg in path.split(separator: ".").map(String.init) { v = try walk(v, seg, path) }
    return v
}

/// The canonical text of a value (see ValueCheck); nil for nil.
func render(_ v: Any?, _ path: String) throws -> String? {
    guard let v = v.flatMap(unwrap) else { return nil }
    switch v {
    case let s as String: return s
    case let b as Bool: return b ? "true" : "false"
    case let i as Int64: return String(i)
    case let d as Double: return "\(d)"
    case let s as ReportStatus: return statusCode(s)
    case let k as Kind: return kindCode(k)
    default:
        let m = Mirror(reflecting: v)
        guard m.displayStyle == .collection else { throw Failure("`\(path)` is a record, not a value: name a field") }
        return "[" + (try m.children.map { try render($0.value, path) ?? "null" }).joined(separator: ", ") + "]"
    }
}

// ---- playing a scenario

final class Box<T>: @unchecked Sendable {
    var value: T
    init(_ v: T) { value = v }
}

/// Where scenarios enroll devices: the test server and its codes.
final class TestServer {
    let url: String
    private var codes: [String: [String]]
    init(url: String, mediatorCodes: [String], supervisorCodes: [String]) {
        self.url = url
        codes = ["mediator": mediatorCodes, "supervisor": supervisorCodes]
    }

    func code(_ role: String) throws -> String {
        guard var list = codes[role], !list.isEmpty else {
            throw Failure("no \(role) code left (the script issues a fixed number)")
        }
        let c = list.removeFirst()
        codes[role] = list
        return c
    }
}

final class Device {
    let path: String
    var store: CarnetStore?
    /// Kept beside the store: a wiped or closed device is still a target by its id.
    var enrollment: DeviceEnrollment?
    init(path: String) { self.path = path }
}

func key(_ seed: Int, _ len: Int) -> Data { Data((0..<len).map { UInt8(truncatingIfNeeded: $0 * 7 + seed) }) }

final class Player {
    private let server: TestServer?
    private let dir: URL
    private var devices: [String: Device] = [:]
    private var saved: [String: String] = [:]

    init(server: TestServer?, dir: URL) {
        self.server = server
        self.dir = dir
    }

    private func testServer() throws -> TestServer {
        guard let s = server else { throw Failure("no carnet-server (CARNET_TEST_SERVER is not set)") }
        return s
    }

    /// `text` with every `$name` replaced by what the step that saved `name` returned.
    func resolve(_ text: String) throws -> String {
        var out = ""
        var rest = Substring(text)
        while let at = rest.firstIndex(of: "$") {
            out += rest[..<at]
            let after = rest[rest.index(after: at)...]
            let end = after.firstIndex(where: { !($0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_")) }) ?? after.endIndex
            let name = String(after[..<end])
            guard let v = saved[name] else { throw Failure("`$\(name)` was not saved by an earlier step") }
            out += v
            rest = after[end...]
        }
        return out + rest
    }

    private func device(_ name: String) -> Device {
        if let d = devices[name] { return d }
        let d = Device(path: dir.appendingPathComponent("\(name).db").path)
        devices[name] = d
        return d
    }

    private func store(_ name: String) throws -> CarnetStore {
        guard let s = devices[name]?.store else { throw Failure("device `\(name)` has no open store") }
        return s
    }

    private func enrollment(_ name: String) throws -> DeviceEnrollment {
        guard let e = devices[name]?.enrollment else { throw Failure("device `\(name)` is not enrolled") }
        return e
    }

    private func checkFields(_ record: Record, _ checks: [FieldCheck]) throws {
        for c in checks {
            let got = try render(try readPath(record, c.path), c.path)
            let ok: Bool
            switch c.check {
            case let .equals(value): ok = try got == resolve(value)
            case let .contains(parts): ok = got.map { g in parts.allSatisfy { g.contains($0) } } ?? false
            case .present: ok = got != nil
            case .absent: ok = got == nil
            }
            if !ok { throw Failure("`\(c.path)`: expected \(c.check), got \(got ?? "null")") }
        }
    }

    /// Plays one step's action; returns the id it saves, if any.
    private func act(_ step: ScenarioStep) throws -> String? {
        let name = step.device ?? ""
        switch step.action {
        case let .open(keySeed, keyBytes, author):
            let d = device(name)
            let s = try CarnetStore.open(path: d.path, key: key(Int(keySeed), Int(keyBytes)))
            if let a = author { try s.setAuthor(author: a) }
            d.store = s
        case .close:
            device(name).store = nil
        case let .enroll(role):
            // The store first (the server binds the device to it), then the
            // enrollment, which saves itself and the team's configuration in
            // the store.
            let url = try testServer().url
            let d = device(name)
            let s = try d.store ?? CarnetStore.open(path: d.path, key: key(1, 32))
            d.store = s
            let e = try s.enroll(serverUrl: url, code: try testServer().code(role), deviceName: name)
            if roleCode(e) != role { throw Failure("enrolled as \(roleCode(e)), not \(role)") }
            if try s.enrollment() != e { throw Failure("enrollment() is not what enroll returned") }
            if try s.config().sectors.isEmpty { throw Failure("the team's configuration was not saved by enroll") }
            try s.setAuthor(author: name)
            d.enrollment = e
        case let .createNote(note):
            var n = note
            n.contacts = try n.contacts.map(resolve)
            return try store(name).createNote(note: n)
        case let .createReport(report):
            var r = report
            r.contacts = try r.contacts.map(resolve)
            return try store(name).createReport(report: r)
        case let .createContact(contact):
            return try store(name).createContact(contact: contact)
        case let .createActivity(activity):
            var a = activity
            a.contacts = try a.contacts.map(resolve)
            return try store(name).createActivity(activity: a)
        case let .setField(record, field, value):
            try store(name).setField(id: try resolve(record), field: field, value: value)
        case let .clearField(record, field):
            try store(name).clearField(id: try resolve(record), field: field)
        case let .changeStatus(record, change):
            var c = change
            c.duplicateOf = try c.duplicateOf.map(resolve)
            try store(name).changeStatus(id: try resolve(record), change: c)
        case let .addInteraction(record, text, referral):
            try store(name).addInteraction(id: try resolve(record), text: text, referral: referral)
        case let .erase(record):
            try store(name).erase(id: try resolve(record))
        case let .setSetting(k, value):
            try store(name).setSetting(key: k, value: value)
        case let .setting(k, expect):
            let got = try store(name).setting(key: k)
            if got != expect { throw Failure("setting `\(k)`: expected \(expect ?? "nil"), got \(got ?? "nil")") }
        case let .get(record, expect):
            try checkFields(try store(name).get(id: try resolve(record)), expect)
        case let .listRecords(query, count, hasMore, first):
            let page = try store(name).list(query: query)
            if page.items.count != Int(count) { throw Failure("\(page.items.count) items, expected \(count)") }
            if let h = hasMore, h != page.hasMore { throw Failure("hasMore is \(page.hasMore)") }
            if !first.isEmpty {
                guard let r = page.items.first else { throw Failure("no first item to check") }
                try checkFields(r, first)
            }
        case let .countRecords(query, by, expect):
            let got = Dictionary(uniqueKeysWithValues: try store(name).count(query: query, by: by).map { ($0.key, $0.count) })
            let want = Dictionary(uniqueKeysWithValues: expect.map { ($0.key, $0.count) })
            if got != want { throw Failure("counts \(got), expected \(want)") }
        case let .openReports(count):
            let n = try store(name).openReports().count
            if n != Int(count) { throw Failure("\(n) open reports, expected \(count)") }
        case let .allowedNext(status, expect):
            let got = allowedNext(status: status)
            if got != expect { throw Failure("allowed \(got), expected \(expect)") }
        case let .history(record, hasOp):
            if !(try store(name).details(id: try resolve(record)).history.contains { $0.op == hasOp }) {
                throw Failure("no `\(hasOp)` in the history")
            }
        case let .conflicts(record, expect):
            let id = try resolve(record)
            func sorted(_ cs: [Conflict]) -> [String] { cs.map { "\($0.field)=\($0.values.sorted())" }.sorted() }
            let want = sorted(expect)
            let details = sorted(try store(name).details(id: id).conflicts)
            let direct = sorted(try store(name).conflicts(id: id))
            if details != want || direct != want { throw Failure("conflicts \(direct) (details: \(details)), expected \(want)") }
        case let .agree(record, other, paths):
            let id = try resolve(record)
            let mine = try store(name).get(id: id)
            let theirs = try store(other).get(id: id)
            for p in paths {
                let x = try render(try readPath(mine, p), p)
                let y = try render(try readPath(theirs, p), p)
                if x != y { throw Failure("`\(p)`: \(x ?? "null") here, \(y ?? "null") on \(other)") }
            }
        case let .sync(server, token, cancelled, expect):
            let tok = try token ?? enrollment(name).token
            let cancel = SyncCancel()
            if cancelled {
                cancel.cancel()
                if !cancel.isCancelled() { throw Failure("isCancelled() is false after cancel()") }
            }
            let phases = Box<[String]>([])
            let url = try server ?? testServer().url
            let summary: SyncSummary
            do {
                summary = try store(name).syncBlocking(serverUrl: url, token: tok, cancel: cancel) { phases.value.append(phaseCode($0)) }
            } catch CarnetError.Wiped {
                // A wipe order takes the enrollment (token included) with the data.
                if try store(name).enrollment() != nil { throw Failure("enrollment() is still set after the wipe") }
                throw CarnetError.Wiped
            }
            try checkSync(summary, expect, phases.value)
        case let .orderWipe(target):
            try testHookOrderWipe(serverUrl: try testServer().url, supervisorToken: try enrollment(name).token,
                                  deviceId: try enrollment(target).deviceId)
        case let .revoke(target):
            try testHookRevoke(serverUrl: try testServer().url, supervisorToken: try enrollment(name).token,
                               deviceId: try enrollment(target).deviceId)
        case let .serverGet(record, expect):
            let d = try testHookServerRecord(serverUrl: try testServer().url, supervisorToken: try enrollment(name).token,
                                             id: try resolve(record))
            try checkFields(d.record, expect)
        }
        return nil
    }

    private func checkSync(_ s: SyncSummary, _ want: SyncExpect, _ phases: [String]) throws {
        if let n = want.pushedAtLeast, s.pushed < n { throw Failure("pushed \(s.pushed)") }
        if let n = want.pulledAtLeast, s.pulled < n { throw Failure("pulled \(s.pulled)") }
        if let n = want.erased, s.erased != n { throw Failure("erased \(s.erased)") }
        for c in want.conflicts {
            let id = try resolve(c.record)
            if !s.conflicts.contains(where: { rc in rc.id == id && rc.conflicts.contains { $0.field == c.field } }) {
                throw Failure("no conflict on `\(c.field)` in \(s.conflicts)")
            }
        }
        if let p = want.lastPhase, phases.last != p { throw Failure("last phase \(phases.last ?? "none"), expected \(p)") }
    }

    /// Plays a step and checks its outcome against its expected error.
    func step(_ step: ScenarioStep) throws {
        let at = step.label
        let result: String?
        do {
            result = try act(step)
        } catch let f as Failure {
            throw Failure("\(at): \(f)")
        } catch let e as CarnetError {
            guard let want = step.error else { throw Failure("\(at): unexpected error \(errorKind(e).0): \(e)") }
            try checkError(at, e, want)
            return
        }
        if let want = step.error { throw Failure("\(at): expected \(want.kind), nothing was thrown") }
        if let n = step.saveAs, let v = result { saved[n] = v }
    }

    private func checkError(_ at: String, _ e: CarnetError, _ want: ExpectedError) throws {
        let (kind, attrs) = errorKind(e)
        if kind != want.kind { throw Failure("\(at): expected \(want.kind), got \(kind): \(e)") }
        for (k, v) in want.attrs {
            let expected: String
            do { expected = try resolve(v) } catch { throw Failure("\(at): \(error)") }
            if attrs[k] != expected { throw Failure("\(at): expected \(k) = \(expected), got \(attrs[k] ?? "nothing")") }
        }
        if let lacks = want.messageLacks, "\(e)".contains(lacks) {
            throw Failure("\(at): the message repeats the value: \(e)")
        }
    }
}
