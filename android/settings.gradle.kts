// Carnet's Android library, buildable on its own (`gradle :carnet:assembleRelease`)
// or included in an app's build (`includeBuild("path/to/carnet/android")`).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "carnet"
