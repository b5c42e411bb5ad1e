// A short sample of Carnet from Kotlin: a mediator's shift.
//
// Plain Kotlin so that scripts/test-kotlin compiles and runs it on the JVM;
// in an app the key comes from the Android Keystore, the directory is
// context.noBackupFilesDir, and the sync runs in a WorkManager worker (see
// docs/mobile.md, which has those Android pieces).
//
//     FieldShift.run(dir, key)                        # local only
//     FieldShift.run(dir, key, server, code)          # enroll, then sync
package org.carnet.sample

import java.io.File
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import org.carnet.core.*

object FieldShift {
    fun run(dir: File, key: ByteArray, server: String? = null, code: String? = null): List<String> {
        val log = mutableListOf<String>()
        // Every call blocks on disk: a real app makes them on Dispatchers.IO.
        val store = Carnet.open(dir, key) // zeroes `key`
        store.use {
            // Once: enroll with the supervisor's code; the enrollment (token included)
            // and the team's configuration are saved inside the encrypted store.
            if (server != null && code != null && store.enrollment() == null) {
                val enrollment = store.enroll(server, code, "Téléphone de démonstration")
                store.setAuthor("mediateur-demo")
                log += "enrolled as a ${if (enrollment.role == Role.SUPERVISOR) "supervisor" else "mediator"} device"
            }

            // Pickers come from the team's configuration.
            val sector = store.config().sectors.first()
            log += "team: ${store.config().name}, sector ${sector.label}"

            // Record: never waits for the network; durable when the call returns.
            val note = store.createNote(
                NewNote(sector = sector.code, text = "Déambulation : calme, deux jeunes rencontrés", axes = listOf("jeunesse"), residentsMet = 2),
            )
            val report = store.createReport(
                NewReport(sector = sector.code, category = "lighting", place = "Allée des Tilleuls", text = "Lampadaire éteint", urgent = false),
            )
            store.changeStatus(report, StatusChange(status = ReportStatus.FORWARDED, to = "ville-eclairage"))
            log += "recorded note $note and report $report"

            // Invalid input names the field to fix, never the value.
            try {
                store.setField(note, "residents_met", "beaucoup")
            } catch (e: CarnetException.InvalidInput) {
                log += "field to fix: ${e.field}"
            }

            // End of shift: sync on a background thread, cancellable.
            val enrollment = store.enrollment()
            if (enrollment != null) {
                val cancel = SyncCancel()
                val pool = Executors.newSingleThreadExecutor()
                val result = pool.submit<SyncSummary> {
                    store.syncBlocking(enrollment.server, enrollment.token, cancel) { p -> log += "sync ${p.phase}: ${p.pushed} sent, ${p.pulled} received" }
                }
                try {
                    val summary = result.get(2, TimeUnit.MINUTES)
                    log += "synced: ${summary.pushed} pushed, ${summary.pulled} pulled, ${summary.conflicts.size} records in conflict"
                } catch (e: java.util.concurrent.TimeoutException) {
                    cancel.cancel() // the sync stops before its next request
                    log += "sync cancelled"
                } finally {
                    pool.shutdown()
                }
            }

            // What supervisors watch: open dégradations and their age.
            for (open in store.openReports()) {
                log += "open report ${open.report.id}: ${open.ageDays} days${if (open.overdue) " (overdue)" else ""}"
            }
        }
        return log
    }
}

fun main(args: Array<String>) {
    val dir = File(args.getOrNull(0) ?: "carnet-sample").also { it.mkdirs() }
    FieldShift.run(dir, Carnet.newKey(), args.getOrNull(1), args.getOrNull(2)).forEach(::println)
}
