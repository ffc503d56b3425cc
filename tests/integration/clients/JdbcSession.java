// pgJDBC (Debian's /usr/share/java/postgresql.jar) through tenantwall, for
// test_clients_jdbc_session.py. Usage: java JdbcSession PORT USER PASSWORD. Prints one JSON object
// with every observation by name (result sets as {columns, types, rows}, errors as {error: {code,
// message}}); the Python test judges them against the database, so nothing here knows the answers.
import java.sql.*;
import java.util.*;

public class JdbcSession {
  static final String CUSTOMERS = "SELECT id, tenant_id, name, email, phone, ssn FROM customers";

  interface Step { Object run() throws SQLException; }

  static Object attempt(Step step) {
    try {
      return step.run();
    } catch (SQLException e) {
      Map<String, Object> error = new LinkedHashMap<>();
      error.put("code", e.getSQLState());
      error.put("message", String.valueOf(e.getMessage()));
      if (e instanceof BatchUpdateException) {
        List<Object> counts = new ArrayList<>();
        for (int n : ((BatchUpdateException) e).getUpdateCounts()) counts.add(n);
        error.put("update_counts", counts);
        SQLException next = e.getNextException();
        if (next != null) error.put("next_code", next.getSQLState());
      }
      return Map.of("error", error);
    }
  }

  static Map<String, Object> result(ResultSet rs) throws SQLException {
    ResultSetMetaData md = rs.getMetaData();
    List<Object> columns = new ArrayList<>(), types = new ArrayList<>(), rows = new ArrayList<>();
    for (int i = 1; i <= md.getColumnCount(); i++) {
      columns.add(md.getColumnLabel(i));
      types.add(md.getColumnTypeName(i));
    }
    while (rs.next()) {
      List<Object> row = new ArrayList<>();
      for (int i = 1; i <= md.getColumnCount(); i++) {
        Object v = rs.getObject(i);
        row.add(v == null ? null : (v instanceof Number || v instanceof Boolean) ? v : v.toString());
      }
      rows.add(row);
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("columns", columns);
    out.put("types", types);
    out.put("rows", rows);
    return out;
  }

  static Map<String, Object> query(Connection c, String sql, Object... params) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      for (int i = 0; i < params.length; i++) ps.setObject(i + 1, params[i]);
      try (ResultSet rs = ps.executeQuery()) {
        return result(rs);
      }
    }
  }

  static Map<String, Object> simple(Connection c, String sql) throws SQLException {
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      return result(rs);
    }
  }

  static Map<String, Object> metadata(ResultSet rs, String... labels) throws SQLException {
    List<Object> rows = new ArrayList<>();
    try (rs) {
      while (rs.next()) {
        List<Object> row = new ArrayList<>();
        for (String l : labels) row.add(rs.getString(l));
        rows.add(row);
      }
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("columns", Arrays.asList((Object[]) labels));
    out.put("rows", rows);
    return out;
  }

  public static void main(String[] args) throws Exception {
    String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/app?sslmode=disable&connectTimeout=10";
    String otherTenant = args[1].equals("bob") ? "acme" : "globex";
    Map<String, Object> seen = new LinkedHashMap<>();
    try (Connection c = DriverManager.getConnection(url, args[1], args[2])) {
      seen.put("valid", c.isValid(5));

      // One PreparedStatement reused: pgJDBC switches to a named server statement (and binary
      // transfer) after prepareThreshold (5) executions.
      List<Object> byId = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement(CUSTOMERS + " WHERE id = ?")) {
        for (int round = 0; round < 3; round++) {
          for (int id = 1; id <= 6; id++) {
            final int v = id;
            byId.add(attempt(() -> {
              ps.setInt(1, v);
              try (ResultSet rs = ps.executeQuery()) {
                return result(rs);
              }
            }));
          }
        }
      }
      seen.put("by_id", byId);
      seen.put("range", attempt(() -> query(c, CUSTOMERS + " WHERE id BETWEEN ? AND ? ORDER BY id", 1, 6)));
      seen.put("other_tenant_param", attempt(() -> query(c, "SELECT id, name FROM customers WHERE tenant_id = ?", otherTenant)));
      seen.put("join", attempt(() -> query(c,
          "SELECT c.name, c.email, o.amount, o.status FROM orders o JOIN customers c ON c.id = o.customer_id "
          + "WHERE o.amount >= ? ORDER BY o.id", new java.math.BigDecimal("0"))));
      seen.put("countries", attempt(() -> simple(c, "SELECT code, name FROM countries ORDER BY code")));

      // Refusals, then the connection is still fine.
      seen.put("refused_relation", attempt(() -> simple(c, "SELECT * FROM internal_audit")));
      seen.put("refused_cross_tenant", attempt(() -> simple(c,
          "SELECT * FROM customers WHERE tenant_id = '" + otherTenant + "'")));
      seen.put("refused_prepared", attempt(() -> query(c, "SELECT payload FROM internal_audit WHERE id = ?", 1)));
      seen.put("after_refusals", attempt(() -> simple(c, "SELECT count(*) AS n FROM customers")));

      // A writes batch (pipelined under one Sync) that changes nothing: the row counts show
      // which ids the tenant can touch. Then a batch with a refused statement in the middle.
      seen.put("batch", attempt(() -> {
        try (PreparedStatement ps = c.prepareStatement("UPDATE customers SET name = name WHERE id = ?")) {
          for (int id = 1; id <= 5; id++) {
            ps.setInt(1, id);
            ps.addBatch();
          }
          List<Object> counts = new ArrayList<>();
          for (int n : ps.executeBatch()) counts.add(n);
          return Map.of("update_counts", counts);
        }
      }));
      seen.put("batch_refused", attempt(() -> {
        try (Statement st = c.createStatement()) {
          st.addBatch("UPDATE customers SET name = name WHERE id = 1");
          st.addBatch("UPDATE internal_audit SET payload = payload");
          st.addBatch("UPDATE customers SET name = name WHERE id = 4");
          List<Object> counts = new ArrayList<>();
          for (int n : st.executeBatch()) counts.add(n);
          return Map.of("update_counts", counts);
        }
      }));
      seen.put("after_batches", attempt(() -> simple(c, "SELECT count(*) AS n FROM orders")));

      // An error inside a transaction, fetchSize (portal row limits), then rollback and reuse.
      c.setAutoCommit(false);
      seen.put("fetch_size", attempt(() -> {
        try (PreparedStatement ps = c.prepareStatement(CUSTOMERS + " ORDER BY id")) {
          ps.setFetchSize(1);  // Execute with a row limit of 1, PortalSuspended, Execute again
          try (ResultSet rs = ps.executeQuery()) {
            return result(rs);
          }
        }
      }));
      seen.put("tx_refused", attempt(() -> simple(c, "SELECT * FROM internal_audit")));
      seen.put("tx_aborted", attempt(() -> query(c, CUSTOMERS + " WHERE id = ?", 1)));
      c.rollback();
      seen.put("tx_after_rollback", attempt(() -> query(c, "SELECT id, ssn FROM customers WHERE id >= ? ORDER BY id", 0)));
      c.commit();
      c.setAutoCommit(true);

      // A slow allowed query cancelled by the driver (CancelRequest with the proxy's key).
      seen.put("query_timeout", attempt(() -> {
        try (Statement st = c.createStatement()) {
          st.setQueryTimeout(2);
          try (ResultSet rs = st.executeQuery("SELECT count(*) FROM generate_series(1, 200000000)")) {
            return result(rs);
          }
        }
      }));
      seen.put("after_timeout", attempt(() -> simple(c, "SELECT count(*) AS n FROM customers")));

      // What a BI tool sees of the schema.
      DatabaseMetaData md = c.getMetaData();
      seen.put("tables", attempt(() -> metadata(md.getTables(null, null, "%", new String[] {"TABLE", "VIEW"}),
          "TABLE_SCHEM", "TABLE_NAME", "TABLE_TYPE")));
      seen.put("tables_public_any_type", attempt(() -> metadata(md.getTables(null, "public", "%", null),
          "TABLE_NAME", "TABLE_TYPE")));
      seen.put("columns_customers", attempt(() -> metadata(md.getColumns(null, "public", "customers", "%"),
          "COLUMN_NAME", "TYPE_NAME", "ORDINAL_POSITION")));
      seen.put("columns_everywhere", attempt(() -> metadata(md.getColumns(null, "public", "%", "%"),
          "TABLE_NAME", "COLUMN_NAME")));
      seen.put("columns_internal_audit", attempt(() -> metadata(md.getColumns(null, null, "internal_audit", "%"),
          "TABLE_NAME", "COLUMN_NAME")));
      seen.put("columns_named_notes", attempt(() -> metadata(md.getColumns(null, null, "%", "notes"),
          "TABLE_NAME", "COLUMN_NAME")));
      seen.put("primary_keys", attempt(() -> metadata(md.getPrimaryKeys(null, "public", "customers"),
          "TABLE_NAME", "COLUMN_NAME")));
      seen.put("after_metadata", attempt(() -> simple(c, "SELECT name FROM customers ORDER BY id")));
    }
    System.out.println(toJson(seen));
  }

  static String toJson(Object v) {
    if (v == null) return "null";
    if (v instanceof Boolean || v instanceof Integer || v instanceof Long) return v.toString();
    if (v instanceof Number) return quote(v.toString());  // decimals as strings: no rounding
    if (v instanceof Map) {
      StringJoiner j = new StringJoiner(",", "{", "}");
      for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) j.add(quote(e.getKey().toString()) + ":" + toJson(e.getValue()));
      return j.toString();
    }
    if (v instanceof List) {
      StringJoiner j = new StringJoiner(",", "[", "]");
      for (Object o : (List<?>) v) j.add(toJson(o));
      return j.toString();
    }
    return quote(v.toString());
  }

  static String quote(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char ch : s.toCharArray()) {
      if (ch == '"' || ch == '\\') b.append('\\').append(ch);
      else if (ch < 0x20) b.append(String.format("\\u%04x", (int) ch));
      else b.append(ch);
    }
    return b.append('"').toString();
  }
}
