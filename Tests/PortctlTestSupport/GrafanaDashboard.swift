/// The Prometheus expressions of a Grafana dashboard's JSON, for the tests that check the
/// example dashboard (which metrics it names; whether Prometheus parses each query).
public enum GrafanaDashboard {
    /// Every `expr` under `value` (a panel, a row of panels, a whole dashboard), depth first.
    public static func expressions(in value: Any) -> [String] {
        var found: [String] = []
        func walk(_ value: Any) {
            if let object = value as? [String: Any] {
                if let expr = object["expr"] as? String { found.append(expr) }
                for (_, child) in object { walk(child) }
            } else if let array = value as? [Any] {
                array.forEach(walk)
            }
        }
        walk(value)
        return found
    }
}
