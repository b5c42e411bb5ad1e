// Runs the sample: CarnetSample [DIR [SERVER CODE]].
import Foundation

#if canImport(CarnetCore)
import CarnetCore
#endif

let args = CommandLine.arguments
let dir = URL(fileURLWithPath: args.count > 1 ? args[1] : "carnet-sample")
try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
var key = Carnet.newKey()
for line in try FieldShift.run(directory: dir, key: &key, server: args.count > 3 ? args[2] : nil, code: args.count > 3 ? args[3] : nil) {
    print(line)
}
