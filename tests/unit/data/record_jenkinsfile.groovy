// Reads a declarative Jenkinsfile with Groovy itself (a syntax error fails here) and
// records what the pipeline would run, in order: each `sh` step's script into
// <out>/sh-<n>.sh and the `environment` block into <out>/env (KEY=VALUE lines).
// Every other step (agent, triggers, options, junit, publishHTML, ...) is accepted and
// its closures run, so a step nested in `post { always { ... } }` is recorded too.
// usage: java -cp groovy.jar groovy.ui.GroovyMain record_jenkinsfile.groovy FILE OUT
class Recorder {
    File out
    int steps = 0
    Map env = [:]

    def run(Closure c) {
        c.delegate = this
        c.resolveStrategy = Closure.DELEGATE_FIRST
        c.call()
    }

    def methodMissing(String name, args) {
        args.each { if (it instanceof Closure) run(it) }
        return null
    }

    def sh(String script) { new File(out, "sh-${steps++}.sh").text = script }

    def environment(Closure c) {
        c.delegate = env
        c.resolveStrategy = Closure.DELEGATE_ONLY
        c.call()
    }
}

def rec = new Recorder(out: new File(args[1]))
def script = new GroovyShell().parse(new File(args[0]))
script.metaClass.methodMissing = { String name, a -> rec.invokeMethod(name, a) }
script.run()
new File(args[1], "env").text = rec.env.collect { k, v -> "${k}=${v}\n" }.join()
