// The conformance scenarios (conformance/scenarios.json, read through the
// test hook `testHookScenarios` into typed steps) played through the Kotlin
// API: CarnetStore, the Kotlin layer (Carnet.kt) and CarnetException. Every
// step of the vocabulary is supported; an action this file does not handle
// would not compile (the `when` over StepAction is exhaustive), and a step the
// hook does not know fails the whole file.
package org.carnet.core.test

import java.io.File
import org.carnet.core.*

/** A check that failed (as opposed to an exception thrown by the API). */
class Failure(message: String) : Exception(message)

fun fail(what: String): Nothing = throw Failure(what)

// ---- the codes the scenario file names the API's enums by

/** The enrollment's role as its code. */
fun roleCode(e: DeviceEnrollment): String =
    when (e.role) {
        Role.MEDIATOR -> "mediator"
        Role.SUPERVISOR -> "supervisor"
    }

/** A progress report's phase as its code. */
fun phaseCode(s: SyncState): String =
    when (s.phase) {
        SyncPhase.PUSH -> "push"
        SyncPhase.PULL -> "pull"
        SyncPhase.PHOTOS -> "photos"
        SyncPhase.DONE -> "done"
    }

/** A contact link's state as its code. */
fun linkStateCode(l: ContactLink): String =
    when (l.state) {
        ContactState.PRESENT -> "present"
        ContactState.ERASED -> "erased"
        ContactState.UNKNOWN -> "unknown"
    }

/** A report status as its code (`in_progress`). */
fun statusCode(s: ReportStatus): String =
    when (s) {
        ReportStatus.REPORTED -> "reported"
        ReportStatus.FORWARDED -> "forwarded"
        ReportStatus.IN_PROGRESS -> "in_progress"
        ReportStatus.RESOLVED -> "resolved"
        ReportStatus.CLOSED -> "closed"
        ReportStatus.REJECTED -> "rejected"
        ReportStatus.DUPLICATE -> "duplicate"
    }

/** An error attribute as a scenario spells it (statuses by code, lists as `a, b`). */
fun attrText(v: Any?): String? =
    when (v) {
        null -> null
        is ReportStatus -> statusCode(v)
        is List<*> -> v.joinToString(", ") { attrText(it) ?: "null" }
        else -> v.toString()
    }

// ---- reading records by path

private fun camel(snake: String): String =
    snake.split('_').mapIndexed { i, part -> if (i == 0) part else part.replaceFirstChar { it.uppercase() } }.joinToString("")

/** The property [name] (snake case) of a generated record, by its getter. */
private fun property(obj: Any, name: String, path: String): Any? {
    val getter = "get" + camel(name).replaceFirstChar { it.uppercase() }
    val method = obj.javaClass.methods.firstOrNull { it.name == getter && it.parameterCount == 0 }
        ?: fail("no field `$name` in path `$path`")
    return method.invoke(obj)
}

private fun isPlain(v: Any?): Boolean =
    v == null || v is String || v is Number || v is Boolean || v is ReportStatus || v is Kind

private fun walk(v: Any?, seg: String, path: String): Any? =
    when {
        v == null -> null
        v is List<*> -> v.map { walk(it, seg, path) }
        v is ContactLink && seg == "state" -> linkStateCode(v)
        isPlain(v) -> fail("`$seg` in path `$path` goes inside a plain value")
        else -> property(v, seg, path)
    }

/** The value at [path] of [record] (`id` and `kind` are the record's own). */
fun readPath(record: Record, path: String): Any? {
    when (path) {
        "id" -> return record.id
        "kind" -> return record.kind.name.lowercase()
    }
    val inner: Any = when (record) {
        is Record.Note -> record.note
        is Record.Report -> record.report
        is Record.Contact -> record.contact
        is Record.Activity -> record.activity
    }
    return path.split('.').fold(inner as Any?) { v, seg -> walk(v, seg, path) }
}

/** The canonical text of a value (see ValueCheck); null for null. */
fun render(v: Any?, path: String): String? =
    when (v) {
        null -> null
        is String -> v
        is Boolean, is Long, is Int, is Double -> v.toString()
        is ReportStatus -> statusCode(v)
        is Kind -> v.name.lowercase()
        is List<*> -> v.joinToString(", ", "[", "]") { render(it, path) ?: "null" }
        else -> fail("`$path` is a record, not a value: name a field")
    }

// ---- playing a scenario

/** Where scenarios enroll devices: the test server and its codes. */
class TestServer(val url: String, mediatorCodes: List<String>, supervisorCodes: List<String>) {
    private val codes = mapOf("mediator" to ArrayDeque(mediatorCodes), "supervisor" to ArrayDeque(supervisorCodes))

    fun code(role: String): String =
        codes[role]?.removeFirstOrNull() ?: fail("no $role code left (the script issues a fixed number)")
}

class Device(val path: String) {
    var store: CarnetStore? = null
    /** Kept beside the store: a wiped or closed device is still a target by its id. */
    var enrollment: DeviceEnrollment? = null
}

fun key(seed: Int, len: Int): ByteArray = ByteArray(len) { (it * 7 + seed).toByte() }

class Player(private val server: TestServer?, private val dir: File) {
    private val devices = mutableMapOf<String, Device>()
    private val saved = mutableMapOf<String, String>()

    private fun server(): TestServer = server ?: fail("no carnet-server (CARNET_TEST_SERVER is not set)")

    /** [text] with every `$name` replaced by what the step that saved `name` returned. */
    fun resolve(text: String): String =
        Regex("""\$([A-Za-z0-9_]+)""").replace(text) { m ->
            saved[m.groupValues[1]] ?: fail("`${m.value}` was not saved by an earlier step")
        }

    private fun device(name: String): Device = devices.getOrPut(name) { Device(File(dir, "$name.db").path) }

    private fun store(name: String): CarnetStore = devices[name]?.store ?: fail("device `$name` has no open store")

    private fun enrollment(name: String): DeviceEnrollment = devices[name]?.enrollment ?: fail("device `$name` is not enrolled")

    private fun checkFields(record: Record, checks: List<FieldCheck>) {
        for (c in checks) {
            val got = render(readPath(record, c.path), c.path)
            val ok = when (val want = c.check) {
                is ValueCheck.Equals -> got == resolve(want.value)
                is ValueCheck.Contains -> got != null && want.parts.all { got.contains(it) }
                is ValueCheck.Present -> got != null
                is ValueCheck.Absent -> got == null
            }
            if (!ok) fail("`${c.path}`: expected ${c.check}, got ${got ?: "null"}")
        }
    }

    /** Plays one step's action; returns the id it saves, if any. */
    private fun act(step: ScenarioStep): String? {
        val name = step.device ?: ""
        when (val a = step.action) {
            is StepAction.Open -> {
                val d = device(name)
                val s = CarnetStore.open(d.path, key(a.keySeed.toInt(), a.keyBytes.toInt()))
                a.author?.let { s.setAuthor(it) }
                d.store = s
            }
            is StepAction.Close -> device(name).let { d ->
                d.store?.close()
                d.store = null
            }
            is StepAction.Enroll -> {
                // The store first (the server binds the device to it), then
                // the enrollment, which saves itself and the team's
                // configuration in the store.
                val d = device(name)
                val s = d.store ?: CarnetStore.open(d.path, key(1, 32)).also { d.store = it }
                val e = s.enroll(server().url, server().code(a.role), name)
                if (roleCode(e) != a.role) fail("enrolled as ${roleCode(e)}, not ${a.role}")
                if (s.enrollment() != e) fail("enrollment() is not what enroll returned")
                if (s.config().sectors.isEmpty()) fail("the team's configuration was not saved by enroll")
                s.setAuthor(name)
                d.enrollment = e
            }
            is StepAction.CreateNote -> return store(name).createNote(a.note.copy(contacts = a.note.contacts.map { resolve(it) }))
            is StepAction.CreateReport -> return store(name).createReport(a.report.copy(contacts = a.report.contacts.map { resolve(it) }))
            is StepAction.CreateContact -> return store(name).createContact(a.contact)
            is StepAction.CreateActivity -> return store(name).createActivity(a.activity.copy(contacts = a.activity.contacts.map { resolve(it) }))
            is StepAction.SetField -> store(name).setField(resolve(a.record), a.field, a.value)
            is StepAction.ClearField -> store(name).clearField(resolve(a.record), a.field)
            is StepAction.ChangeStatus ->
                store(name).changeStatus(resolve(a.record), a.change.copy(duplicateOf = a.change.duplicateOf?.let { resolve(it) }))
            is StepAction.AddInteraction -> store(name).addInteraction(resolve(a.record), a.text, a.referral)
            is StepAction.Erase -> store(name).erase(resolve(a.record))
            is StepAction.SetSetting -> store(name).setSetting(a.key, a.value)
            is StepAction.Setting -> {
                val got = store(name).setting(a.key)
                if (got != a.expect) fail("setting `${a.key}`: expected ${a.expect}, got $got")
            }
            is StepAction.Get -> checkFields(store(name).get(resolve(a.record)), a.expect)
            is StepAction.ListRecords -> {
                val page = store(name).list(a.query)
                if (page.items.size != a.count.toInt()) fail("${page.items.size} items, expected ${a.count}")
                a.hasMore?.let { if (it != page.hasMore) fail("hasMore is ${page.hasMore}") }
                if (a.first.isNotEmpty()) checkFields(page.items.firstOrNull() ?: fail("no first item to check"), a.first)
            }
            is StepAction.CountRecords -> {
                val got = store(name).count(a.query, a.by).associate { it.key to it.count }
                val want = a.expect.associate { it.key to it.count }
                if (got != want) fail("counts $got, expected $want")
            }
            is StepAction.OpenReports -> {
                val n = store(name).openReports().size
                if (n != a.count.toInt()) fail("$n open reports, expected ${a.count}")
            }
            is StepAction.AllowedNext -> {
                val got = allowedNext(a.status)
                if (got != a.expect) fail("allowed $got, expected ${a.expect}")
            }
            is StepAction.History -> {
                if (store(name).details(resolve(a.record)).history.none { it.op == a.hasOp }) fail("no `${a.hasOp}` in the history")
            }
            is StepAction.Conflicts -> {
                val id = resolve(a.record)
                fun sorted(cs: List<Conflict>) = cs.map { it.field to it.values.sorted() }.sortedBy { it.first }
                val want = sorted(a.expect)
                val details = sorted(store(name).details(id).conflicts)
                val direct = sorted(store(name).conflicts(id))
                if (details != want || direct != want) fail("conflicts $direct (details: $details), expected $want")
            }
            is StepAction.Agree -> {
                val id = resolve(a.record)
                val mine = store(name).get(id)
                val theirs = store(a.other).get(id)
                for (p in a.paths) {
                    val x = render(readPath(mine, p), p)
                    val y = render(readPath(theirs, p), p)
                    if (x != y) fail("`$p`: $x here, $y on ${a.other}")
                }
            }
            is StepAction.Sync -> {
                val token = a.token ?: enrollment(name).token
                val cancel = SyncCancel()
                if (a.cancelled) {
                    cancel.cancel()
                    if (!cancel.isCancelled()) fail("isCancelled() is false after cancel()")
                }
                val phases = mutableListOf<String>()
                val summary = try {
                    store(name).syncBlocking(a.server ?: server().url, token, cancel) { phases += phaseCode(it) }
                } catch (e: CarnetException.Wiped) {
                    // A wipe order takes the enrollment (token included) with the data.
                    if (store(name).enrollment() != null) fail("enrollment() is still set after the wipe")
                    throw e
                }
                checkSync(summary, a.expect, phases)
            }
            is StepAction.OrderWipe -> testHookOrderWipe(server().url, enrollment(name).token, enrollment(a.target).deviceId)
            is StepAction.Revoke -> testHookRevoke(server().url, enrollment(name).token, enrollment(a.target).deviceId)
            is StepAction.ServerGet ->
                checkFields(testHookServerRecord(server().url, enrollment(name).token, resolve(a.record)).record, a.expect)
        }
        return null
    }

    private fun checkSync(s: SyncSummary, want: SyncExpect, phases: List<String>) {
        want.pushedAtLeast?.let { if (s.pushed < it) fail("pushed ${s.pushed}") }
        want.pulledAtLeast?.let { if (s.pulled < it) fail("pulled ${s.pulled}") }
        want.erased?.let { if (s.erased != it) fail("erased ${s.erased}") }
        for (c in want.conflicts) {
            val id = resolve(c.record)
            if (s.conflicts.none { rc -> rc.id == id && rc.conflicts.any { it.field == c.field } }) {
                fail("no conflict on `${c.field}` in ${s.conflicts}")
            }
        }
        want.lastPhase?.let { if (phases.lastOrNull() != it) fail("last phase ${phases.lastOrNull()}, expected $it") }
    }

    /** Plays a step and checks its outcome against its expected error. */
    fun step(step: ScenarioStep) {
        val at = step.label
        val result = try {
            act(step)
        } catch (f: Failure) {
            throw Failure("$at: ${f.message}")
        } catch (e: CarnetException) {
            val want = step.error ?: throw Failure("$at: unexpected ${e::class.simpleName}: ${e.message}")
            checkError(at, e, want)
            return
        }
        step.error?.let { throw Failure("$at: expected ${it.kind}, nothing was thrown") }
        val name = step.saveAs
        if (name != null && result != null) saved[name] = result
    }

    /** Kind by the exception's class name; attributes by their getters. */
    private fun checkError(at: String, e: CarnetException, want: ExpectedError) {
        val kind = e::class.simpleName
        if (kind != want.kind) throw Failure("$at: expected ${want.kind}, got $kind: ${e.message}")
        for ((k, v) in want.attrs) {
            val got = try {
                attrText(property(e, k, k))
            } catch (f: Failure) {
                throw Failure("$at: $kind has no `$k`")
            }
            val expected = try {
                resolve(v)
            } catch (f: Failure) {
                throw Failure("$at: ${f.message}")
            }
            if (got != expected) throw Failure("$at: expected $k = $expected, got $got")
        }
        want.messageLacks?.let {
            if (e.toString().contains(it)) throw Failure("$at: the message repeats the value: $e")
        }
    }

    /** Closes every store the scenario opened. */
    fun close() {
        devices.values.forEach { it.store?.close() }
    }
}
