// The Kotlin suite of Carnet's bindings, run on the host JVM by
// scripts/test-kotlin against a host build of libcarnet_ffi (with the
// `test-hooks` feature) and a real carnet-server on a loopback port.
//
// The same scenarios run in Swift (ios/Tests/CarnetSuite/main.swift).
// Environment (set by the script):
//   CARNET_TEST_DIR              scratch directory
//   CARNET_TEST_SERVER           http://127.0.0.1:PORT
//   CARNET_TEST_SUPERVISOR_CODE  the team's first (supervisor) code
//   CARNET_TEST_MEDIATOR_CODES   eight mediator codes, comma-separated
// The last line printed is "N passed, M failed"; the exit status is non-zero
// when a test failed.
package org.carnet.core.test

import java.io.File
import kotlin.system.exitProcess
import org.carnet.core.*

class Failure(message: String) : Exception(message)

fun check(cond: Boolean, what: () -> String) {
    if (!cond) throw Failure(what())
}

fun <T> checkEq(actual: T, expected: T, what: String) =
    check(actual == expected) { "$what: expected <$expected>, got <$actual>" }

/** Runs [block] and returns the exception of type [E] it must throw. */
inline fun <reified E : Throwable> expectThrows(what: String, block: () -> Unit): E {
    try {
        block()
    } catch (e: Throwable) {
        if (e is E) return e
        throw Failure("$what: expected ${E::class.simpleName}, got ${e::class.qualifiedName}: ${e.message}")
    }
    throw Failure("$what: expected ${E::class.simpleName}, nothing was thrown")
}

val scratch = File(System.getenv("CARNET_TEST_DIR") ?: error("CARNET_TEST_DIR is not set")).also { it.mkdirs() }
val server: String? = System.getenv("CARNET_TEST_SERVER")?.takeIf { it.isNotBlank() }
val supervisorCode: String? = System.getenv("CARNET_TEST_SUPERVISOR_CODE")
val mediatorCodes = ArrayDeque((System.getenv("CARNET_TEST_MEDIATOR_CODES") ?: "").split(',').filter { it.isNotBlank() })

fun key(seed: Int): ByteArray = ByteArray(32) { (it * 7 + seed).toByte() }

var stores = 0

fun freshStore(author: String = "mediator-a"): CarnetStore {
    stores += 1
    val s = CarnetStore.open(File(scratch, "store-$stores.db").path, key(stores))
    s.setAuthor(author)
    return s
}

fun needServer(): String = server ?: throw Failure("no carnet-server (CARNET_TEST_SERVER is not set)")

class Device(val store: CarnetStore, val enrollment: Enrollment) {
    fun sync(cancel: SyncCancel? = null): SyncSummary = store.syncBlocking(needServer(), enrollment.token, cancel)
}

/** A new store enrolled as a mediator with one of the script's codes. */
fun enrolledDevice(name: String): Device {
    val url = needServer()
    val code = mediatorCodes.removeFirstOrNull() ?: throw Failure("no mediator code left")
    val e = enroll(url, code, name)
    checkEq(e.role, "mediator", "enrolled role")
    val s = freshStore(name)
    s.setConfig(e.config)
    return Device(s, e)
}

fun record(s: CarnetStore, id: String): Record = s.get(id)

fun asReport(r: Record): Report = (r as? Record.Report)?.report ?: throw Failure("not a report: $r")

fun asNote(r: Record): Note = (r as? Record.Note)?.note ?: throw Failure("not a note: $r")

fun asContact(r: Record): Contact = (r as? Record.Contact)?.contact ?: throw Failure("not a contact: $r")

val tests = linkedMapOf<String, () -> Unit>()

fun test(name: String, block: () -> Unit) {
    tests[name] = block
}

fun main() {
    test("open with a key, reopen with the wrong key") {
        val path = File(scratch, "keyed.db").path
        val s = CarnetStore.open(path, key(100))
        val id = s.createNote(NewNote(sector = "conte-joliot", text = "Hall B : néon cassé"))
        s.close()
        val e = expectThrows<CarnetException.WrongKey>("wrong key") { CarnetStore.open(path, key(101)) }
        check(e.toString().isNotEmpty()) { "the exception has a message" }
        val again = CarnetStore.open(path, key(100))
        checkEq(asNote(again.get(id)).text, "Hall B : néon cassé", "note after reopening")
        again.close()
        val short = expectThrows<CarnetException.InvalidInput>("31-byte key") { CarnetStore.open(path, ByteArray(31)) }
        checkEq(short.field, "key", "field of the short key")
        // The Kotlin layer zeroes the caller's key once handed over.
        val dir = File(scratch, "via-carnet").also { it.mkdirs() }
        val k = Carnet.newKey()
        Carnet.open(dir, k).close()
        check(k.all { it == 0.toByte() }) { "Carnet.open zeroes the key" }
    }

    test("create each kind of record") {
        val s = freshStore()
        val contact = s.createContact(
            NewContact(
                name = "Mme Exemple",
                phone = "06 00 00 00 00",
                languages = listOf("fr", "ar"),
                sector = "Ozanam + Albignac",
                topics = listOf("energy"),
                consents = mapOf("contact" to 1_764_000_000_000L),
            ),
        )
        val note = s.createNote(
            NewNote(
                sector = "conte-joliot",
                quartier = "La Conte",
                text = "Déambulation : lampadaire éteint rue des Lilas",
                axes = listOf("Cadre de vie", "tranquillite"),
                tags = listOf("éclairage"),
                residentsMet = 3,
                contacts = listOf(contact),
            ),
        )
        val report = s.createReport(
            NewReport(sector = "viguier-saint-jacques", category = "lift", place = "Bât. C", text = "Ascenseur en panne", urgent = true),
        )
        val activity = s.createActivity(
            NewActivity(activityType = "aller vers", sector = "grazailles-fleming", metKnown = 4, metNew = 2, partners = listOf("CAF")),
        )
        val n = asNote(s.get(note))
        checkEq(n.sector, "conte-joliot", "note sector")
        checkEq(n.quartier, "la-conte", "label became a code")
        checkEq(n.axes, listOf("cadre-de-vie", "tranquillite"), "note axes")
        checkEq(n.residentsMet, 3L, "residents met")
        checkEq(n.contacts.map { it.state }, listOf("present"), "contact link")
        checkEq(n.header.author, "mediator-a", "author")
        check(n.observedAt != null) { "observed_at defaults to now" }
        val r = asReport(s.get(report))
        checkEq(r.status, ReportStatus.REPORTED, "new report status")
        checkEq(r.urgent, true, "urgent")
        val c = asContact(s.get(contact))
        checkEq(c.sector, "ozanam-albignac", "contact sector")
        checkEq(c.consents.map { it.topic }, listOf("contact"), "consents")
        val a = (s.get(activity) as Record.Activity).activity
        checkEq(a.activityType, "aller_vers", "activity type")
        checkEq(a.metNew, 2L, "met new")
        checkEq(s.get(report).kind, Kind.REPORT, "Record.kind")
        checkEq(s.get(report).id, report, "Record.id")
        s.addInteraction(contact, "Dossier FSL déposé", referral = "CAF")
        checkEq(asContact(s.get(contact)).interactions.map { it.referral }, listOf("CAF"), "interaction")
        s.close()
    }

    test("list and search") {
        val s = freshStore()
        s.createNote(NewNote(sector = "conte-joliot", text = "Lampadaire éteint devant l'école"))
        s.createNote(NewNote(sector = "ozanam-albignac", text = "Rencontre avec les jeunes du city stade", axes = listOf("jeunesse")))
        s.createReport(NewReport(sector = "conte-joliot", category = "graffiti", place = "Mur du gymnase", text = "Tags"))
        checkEq(s.list(Query()).items.size, 3, "all records")
        checkEq(s.list(Query(kind = Kind.NOTE)).items.size, 2, "notes")
        val found = s.list(Query(text = "lampadaire"))
        checkEq(found.items.size, 1, "search hits")
        check(asNote(found.items[0]).text.startsWith("Lampadaire")) { "search found the right note" }
        checkEq(s.list(Query(text = "ascenseur")).items.size, 0, "search miss")
        checkEq(s.list(Query(sector = "conte-joliot")).items.size, 2, "by sector")
        checkEq(s.list(Query(axis = "jeunesse")).items.size, 1, "by axis")
        val page = s.list(Query(limit = 2u))
        check(page.hasMore && page.items.size == 2) { "paging: ${page.items.size} items, hasMore=${page.hasMore}" }
        val counts = s.count(Query(), GroupBy.KIND).associate { it.key to it.count }
        checkEq(counts, mapOf("note" to 2uL, "report" to 1uL), "count by kind")
        checkEq(s.openReports().size, 1, "open reports")
        s.close()
    }

    test("a report through its lifecycle, and an invalid transition") {
        val s = freshStore()
        val id = s.createReport(NewReport(sector = "conte-joliot", category = "doors-locks", place = "Entrée 4", text = "Porte forcée"))
        val noBody = expectThrows<CarnetException.InvalidInput>("forwarded without a body") {
            s.changeStatus(id, StatusChange(status = ReportStatus.FORWARDED))
        }
        checkEq(noBody.field, "to", "field of the missing body")
        s.changeStatus(id, StatusChange(status = ReportStatus.FORWARDED, to = "bailleur", reference = "OS-2291"))
        s.changeStatus(id, StatusChange(status = ReportStatus.IN_PROGRESS))
        s.changeStatus(id, StatusChange(status = ReportStatus.RESOLVED, comment = "Serrure changée"))
        s.changeStatus(id, StatusChange(status = ReportStatus.CLOSED))
        val r = asReport(s.get(id))
        checkEq(r.status, ReportStatus.CLOSED, "final status")
        checkEq(r.events.map { it.status }, listOf(ReportStatus.FORWARDED, ReportStatus.IN_PROGRESS, ReportStatus.RESOLVED, ReportStatus.CLOSED), "events")
        checkEq(r.body, "bailleur", "body")
        checkEq(r.events[0].reference, "OS-2291", "reference")
        val bad = expectThrows<CarnetException.InvalidTransition>("closed -> in progress") {
            s.changeStatus(id, StatusChange(status = ReportStatus.IN_PROGRESS))
        }
        checkEq(bad.from, "closed", "transition from")
        checkEq(bad.to, "in_progress", "transition to")
        checkEq(allowedNext(ReportStatus.CLOSED), listOf(ReportStatus.REPORTED), "allowed from closed")
        s.changeStatus(id, StatusChange(status = ReportStatus.REPORTED, comment = "Revenu"))
        checkEq(asReport(s.get(id)).status, ReportStatus.REPORTED, "reopened")
        checkEq(s.list(Query(status = ReportStatus.REPORTED)).items.size, 1, "list by status")
        check(s.details(id).history.any { it.op == "status" }) { "history has the status changes" }
        s.close()
    }

    test("edit fields, and invalid input as a typed exception") {
        val s = freshStore()
        val id = s.createNote(NewNote(sector = "conte-joliot", text = "x"))
        s.setField(id, "residents_met", "12")
        s.setField(id, "axes", "jeunesse, Cadre de vie")
        s.setField(id, "lat", "43.2")
        val n = asNote(s.get(id))
        checkEq(n.residentsMet, 12L, "number from text")
        checkEq(n.axes, listOf("cadre-de-vie", "jeunesse"), "list from text")
        checkEq(n.lat, 43.2, "latitude from text")
        s.clearField(id, "lat")
        checkEq(asNote(s.get(id)).lat, null, "cleared")
        val notNumber = expectThrows<CarnetException.InvalidInput>("a word for a number") { s.setField(id, "residents_met", "douze") }
        checkEq(notNumber.field, "residents_met", "field named")
        val sector = expectThrows<CarnetException.InvalidInput>("unknown sector") {
            s.createNote(NewNote(sector = "atlantis", text = "x"))
        }
        checkEq(sector.field, "sector", "unknown sector field")
        val required = expectThrows<CarnetException.InvalidInput>("empty text") { s.createNote(NewNote(sector = "conte-joliot", text = "  ")) }
        checkEq(required.field, "text", "required field")
        val phone = expectThrows<CarnetException.InvalidInput>("bad phone") { s.createContact(NewContact(name = "X", phone = "appelle-moi")) }
        checkEq(phone.field, "phone", "phone field")
        check(!phone.toString().contains("appelle-moi")) { "the message does not repeat the value: $phone" }
        val unknownField = expectThrows<CarnetException.InvalidInput>("unknown field") { s.setField(id, "colour", "red") }
        checkEq(unknownField.field, "field", "unknown field")
        val badId = expectThrows<CarnetException.InvalidInput>("malformed id") { s.get("not-an-id") }
        checkEq(badId.field, "id", "malformed id field")
        expectThrows<CarnetException.NotFound>("unknown id") { s.get("0192f0c8-7c1e-7d3a-9e1f-3b2a1c0d4e5f") }
        s.close()
    }

    test("erase a resident contact") {
        val s = freshStore()
        val contact = s.createContact(NewContact(name = "M. Oubli", phone = "0611223344"))
        val note = s.createNote(NewNote(sector = "conte-joliot", text = "Accompagnement CAF", contacts = listOf(contact)))
        s.erase(contact)
        val gone = expectThrows<CarnetException.Erased>("erased contact") { s.get(contact) }
        checkEq(gone.id, contact, "erased id")
        checkEq(asNote(s.get(note)).contacts.map { it.state }, listOf("erased"), "link now says erased")
        checkEq(s.list(Query(kind = Kind.CONTACT)).items.size, 0, "no contact left")
        expectThrows<CarnetException.Erased>("edit an erased contact") { s.setField(contact, "phone", "0600000000") }
        val notContact = expectThrows<CarnetException.InvalidInput>("erase a note") { s.erase(note) }
        checkEq(notContact.field, "id", "only contacts are erased")
        s.close()
    }

    test("a Rust panic becomes an exception and the next call works") {
        val s = freshStore()
        val id = s.createNote(NewNote(sector = "conte-joliot", text = "avant"))
        expectThrows<InternalException>("panic") { testHookPanic(s) }
        expectThrows<InternalException>("second panic") { testHookPanic(s) }
        checkEq(asNote(s.get(id)).text, "avant", "read after the panic")
        s.createNote(NewNote(sector = "conte-joliot", text = "après"))
        checkEq(s.list(Query()).items.size, 2, "write after the panic")
        s.close()
    }

    test("sync between two stores through carnet-server") {
        val a = enrolledDevice("tel-a")
        val b = enrolledDevice("tel-b")
        val report = a.store.createReport(NewReport(sector = "conte-joliot", category = "lighting", place = "Parking nord", text = "Trois lampadaires éteints"))
        val phases = mutableListOf<String>()
        val up = a.store.syncBlocking(needServer(), a.enrollment.token) { phases += it.phase }
        check(up.pushed >= 1uL) { "A pushed ${up.pushed}" }
        checkEq(phases.last(), "done", "last progress phase")
        val down = b.sync()
        check(down.pulled >= 1uL) { "B pulled ${down.pulled}" }
        checkEq(asReport(b.store.get(report)).place, "Parking nord", "report on B")
        b.store.changeStatus(report, StatusChange(status = ReportStatus.FORWARDED, to = "ville-eclairage"))
        b.sync()
        a.sync()
        checkEq(asReport(a.store.get(report)).status, ReportStatus.FORWARDED, "status change reached A")
        a.store.close()
        b.store.close()
    }

    test("a conflict surfaced after concurrent edits") {
        val a = enrolledDevice("tel-c")
        val b = enrolledDevice("tel-d")
        val id = a.store.createReport(NewReport(sector = "conte-joliot", category = "lift", place = "Bât. A", text = "Ascenseur bloqué"))
        a.sync()
        b.sync()
        // Offline, both edit the same scalar field and the same text.
        a.store.setField(id, "place", "Bât. A, hall 1")
        b.store.setField(id, "place", "Bât. A, hall 2")
        a.store.setField(id, "text", "Ascenseur bloqué au 3e")
        b.store.setField(id, "text", "Ascenseur bloqué, pompiers appelés")
        a.sync()
        val bSummary = b.sync()
        a.sync()
        check(bSummary.conflicts.any { rc -> rc.id == id && rc.conflicts.any { it.field == "place" } }) {
            "B's sync summary reports the conflict: ${bSummary.conflicts}"
        }
        for ((name, s) in listOf("A" to a.store, "B" to b.store)) {
            val c = s.details(id).conflicts.singleOrNull { it.field == "place" } ?: throw Failure("$name: no conflict on place")
            checkEq(c.values.sorted(), listOf("\"Bât. A, hall 1\"", "\"Bât. A, hall 2\""), "$name: both values kept")
            val text = asReport(s.get(id)).text
            check("3e" in text && "pompiers" in text) { "$name: both text edits survive: $text" }
        }
        checkEq(asReport(a.store.get(id)).place, asReport(b.store.get(id)).place, "both show the same value")
        // Writing the field resolves the conflict.
        a.store.setField(id, "place", "Bât. A, hall 1 et 2")
        checkEq(a.store.conflicts(id), emptyList<Conflict>(), "resolved on A")
        a.sync()
        b.sync()
        checkEq(b.store.conflicts(id), emptyList<Conflict>(), "resolution reached B")
        a.store.close()
        b.store.close()
    }

    test("an erasure travels through the server") {
        val a = enrolledDevice("tel-e")
        val b = enrolledDevice("tel-f")
        val contact = a.store.createContact(NewContact(name = "Mme Départ", phone = "0612345678"))
        a.sync()
        b.sync()
        checkEq(asContact(b.store.get(contact)).name, "Mme Départ", "contact reached B")
        a.store.erase(contact)
        a.sync()
        val s = b.sync()
        checkEq(s.erased, 1uL, "B erased one record")
        expectThrows<CarnetException.Erased>("contact on B") { b.store.get(contact) }
        a.store.close()
        b.store.close()
    }

    test("sync errors: cancelled, bad token, bad address, unreachable server") {
        val s = freshStore()
        s.createNote(NewNote(sector = "conte-joliot", text = "hors ligne"))
        val token = "no-request-is-made-with-this-token"
        val cancel = SyncCancel()
        cancel.cancel()
        check(cancel.isCancelled()) { "isCancelled" }
        expectThrows<CarnetException.Cancelled>("cancelled sync") { s.syncBlocking(needServer(), token, cancel) }
        expectThrows<CarnetException.NotEnrolled>("unknown token") { s.syncBlocking(needServer(), "not-a-token") }
        val addr = expectThrows<CarnetException.InvalidInput>("ftp address") { s.syncBlocking("ftp://example.org", token) }
        checkEq(addr.field, "server", "bad address field")
        expectThrows<CarnetException.Network>("nothing listening") { s.syncBlocking("http://127.0.0.1:9", token) }
        checkEq(s.list(Query()).items.size, 1, "the note is still there")
        s.close()
    }

    test("the device's wipe order and revocation are honoured") {
        val url = needServer()
        val supervisor = enroll(url, supervisorCode ?: throw Failure("no supervisor code"), "bureau")
        checkEq(supervisor.role, "supervisor", "supervisor role")
        val lost = enrolledDevice("tel-perdu")
        lost.store.createContact(NewContact(name = "Personne Sensible"))
        lost.sync()
        testHookOrderWipe(url, supervisor.token, lost.enrollment.deviceId)
        expectThrows<CarnetException.Wiped>("sync after a wipe order") { lost.sync() }
        checkEq(lost.store.list(Query()).items.size, 0, "nothing left after the wipe")
        checkEq(lost.store.setting("token"), null, "settings wiped")
        val revoked = enrolledDevice("tel-vole")
        testHookRevoke(url, supervisor.token, revoked.enrollment.deviceId)
        expectThrows<CarnetException.NotEnrolled>("sync after revocation") { revoked.sync() }
        lost.store.close()
        revoked.store.close()
    }

    var passed = 0
    var failed = 0
    for ((name, block) in tests) {
        try {
            block()
            passed += 1
            println("ok   - $name")
        } catch (e: Throwable) {
            failed += 1
            println("FAIL - $name: ${e::class.simpleName}: ${e.message}")
        }
    }
    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0) 0 else 1)
}
