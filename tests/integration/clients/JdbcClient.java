// pgJDBC through tenantwall: PreparedStatement with parameters, a batch, an error then reuse,
// and DatabaseMetaData. Prints one line per observation ("key=value"); the test asserts them.
import java.sql.*;
import java.util.*;

public class JdbcClient {
  public static void main(String[] args) throws Exception {
    String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/app?sslmode=disable";
    try (Connection c = DriverManager.getConnection(url, args[1], args[2])) {
      try (PreparedStatement ps = c.prepareStatement(
               "SELECT id, tenant_id, name, ssn FROM customers WHERE id BETWEEN ? AND ? ORDER BY id")) {
        for (int round = 0; round < 6; round++) {  // pgJDBC switches to a named statement at 5
          ps.setInt(1, 1);
          ps.setInt(2, 5);
          List<String> rows = new ArrayList<>();
          try (ResultSet rs = ps.executeQuery()) {
            while (rs.next())
              rows.add(rs.getInt(1) + "|" + rs.getString(2) + "|" + rs.getString(3) + "|" + rs.getString(4));
          }
          System.out.println("rows" + round + "=" + String.join(";", rows));
        }
      }
      try (Statement st = c.createStatement()) {
        st.executeQuery("SELECT * FROM internal_audit");
        System.out.println("refusal=none");
      } catch (SQLException e) {
        System.out.println("refusal=" + e.getSQLState());
      }
      try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT count(*) FROM orders")) {
        rs.next();
        System.out.println("orders=" + rs.getInt(1));
      }
      DatabaseMetaData md = c.getMetaData();
      List<String> tables = new ArrayList<>();
      try (ResultSet rs = md.getTables(null, "public", "%", new String[] {"TABLE"})) {
        while (rs.next()) tables.add(rs.getString("TABLE_NAME"));
      }
      Collections.sort(tables);
      System.out.println("tables=" + String.join(",", tables));
      List<String> columns = new ArrayList<>();
      try (ResultSet rs = md.getColumns(null, "public", "customers", "%")) {
        while (rs.next()) columns.add(rs.getString("COLUMN_NAME"));
      }
      System.out.println("columns=" + String.join(",", columns));
    }
  }
}
