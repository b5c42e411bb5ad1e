// The Kotlin suite of Carnet's bindings, run on the host JVM by
// scripts/test-kotlin against a host build of libcarnet_ffi (with the
// `test-hooks` feature) and a real carnet-server on a loopback port.
//
// Most of it is the conformance scenarios (conformance/scenarios.json, played
// by Conformance.kt), the same file Rust, Swift and the HTTP API play. Here,
// beside them, only what is Kotlin's own: a Rust panic as an exception, the
// Kotlin layer's zeroing of the caller's key, and photos (Photos.kt: bytes
// made with the JVM's ImageIO, synced between two devices).
//
// Environment (set by the script):
//   CARNET_CONFORMANCE            the scenario file
//   CARNET_TEST_DIR               scratch directory
//   CARNET_TEST_SERVER            http://127.0.0.1:PORT
//   CARNET_TEST_MEDIATOR_CODES    mediator codes, comma-separated
//   CARNET_TEST_SUPERVISOR_CODES  supervisor codes, comma-separated
// Prints one line per test and scenario; the last line is "N passed, M
// failed"; the exit status is non-zero when anything failed.
package org.carnet.core.test

import java.io.File
import kotlin.system.exitProcess
import org.carnet.core.*

fun env(name: String): String? = System.getenv(name)?.takeIf { it.isNotBlank() }

fun codes(name: String): List<String> = (env(name) ?: "").split(',').filter { it.isNotBlank() }

/** Runs [block] and returns the exception of type [E] it must throw. */
inline fun <reified E : Throwable> expectThrows(what: String, block: () -> Unit): E {
    try {
        block()
    } catch (e: Throwable) {
        if (e is E) return e
        fail("$what: expected ${E::class.simpleName}, got ${e::class.qualifiedName}: ${e.message}")
    }
    fail("$what: expected ${E::class.simpleName}, nothing was thrown")
}

/** What only the Kotlin face has. */
fun kotlinTests(scratch: File): Map<String, () -> Unit> = linkedMapOf<String, () -> Unit>(
    "a Rust panic becomes an exception and the next call works" to {
        val s = CarnetStore.open(File(scratch, "panic.db").path, key(9, 32))
        val id = s.createNote(NewNote(sector = "conte-joliot", text = "avant"))
        expectThrows<InternalException>("panic") { testHookPanic(s) }
        expectThrows<InternalException>("second panic") { testHookPanic(s) }
        if ((s.get(id) as Record.Note).note.text != "avant") fail("read after the panic")
        s.createNote(NewNote(sector = "conte-joliot", text = "après"))
        if (s.list(Query()).items.size != 2) fail("write after the panic")
        s.close()
    },
    "Carnet.open zeroes the caller's key" to {
        val dir = File(scratch, "via-carnet").also { it.mkdirs() }
        val k = Carnet.newKey()
        Carnet.open(dir, k).close()
        if (!k.all { it == 0.toByte() }) fail("the key was not zeroed")
        if (Carnet.storeFiles(dir).none { it.exists() }) fail("no store file in $dir")
    },
)

fun main() {
    val scratch = File(env("CARNET_TEST_DIR") ?: error("CARNET_TEST_DIR is not set")).also { it.mkdirs() }
    val file = env("CARNET_CONFORMANCE") ?: error("CARNET_CONFORMANCE is not set")
    val server = env("CARNET_TEST_SERVER")?.let {
        TestServer(it, codes("CARNET_TEST_MEDIATOR_CODES"), codes("CARNET_TEST_SUPERVISOR_CODES"))
    }
    var passed = 0
    var failed = 0
    fun report(name: String, block: () -> Unit) {
        try {
            block()
            passed += 1
            println("ok   - $name")
        } catch (e: Throwable) {
            failed += 1
            println("FAIL - $name: ${e::class.simpleName}: ${e.message}")
        }
    }
    for ((name, block) in kotlinTests(scratch) + photoTests(scratch, server)) report(name, block)
    val scenarios = try {
        testHookScenarios(file)
    } catch (e: CarnetException) {
        println("FAIL - the scenario file $file: ${e.message}")
        println("$passed passed, ${failed + 1} failed")
        exitProcess(1)
    }
    if (scenarios.isEmpty()) report("the scenario file $file has scenarios") { fail("none") }
    scenarios.forEachIndexed { i, sc ->
        val dir = File(scratch, "scenario-${i + 1}").also { it.mkdirs() }
        report("scenario: ${sc.name}") {
            val player = Player(server, dir)
            try {
                sc.steps.forEach(player::step)
            } finally {
                player.close()
            }
        }
    }
    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0) 0 else 1)
}
