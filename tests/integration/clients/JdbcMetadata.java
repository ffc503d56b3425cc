// DatabaseMetaData through tenantwall (tests/integration/test_sql_surface.py): prints what
// getTables, getColumns, getPrimaryKeys and getImportedKeys return as key=value lines, and the
// SQLSTATE of any SQLException (a refusal would show up as error=...).
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

public class JdbcMetadata {
  public static void main(String[] args) throws Exception {
    String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/app?sslmode=disable";
    try (Connection c = DriverManager.getConnection(url, args[1], args[2])) {
      DatabaseMetaData md = c.getMetaData();
      try {
        List<String> tables = new ArrayList<>();
        try (ResultSet rs = md.getTables(null, null, "%", new String[] {"TABLE"})) {
          while (rs.next()) tables.add(rs.getString("TABLE_SCHEM") + "." + rs.getString("TABLE_NAME"));
        }
        System.out.println("tables=" + String.join(",", tables));
        for (String table : new String[] {"customers", "orders", "countries", "internal_audit"}) {
          List<String> columns = new ArrayList<>();
          try (ResultSet rs = md.getColumns(null, "public", table, "%")) {
            while (rs.next()) columns.add(rs.getString("COLUMN_NAME") + ":" + rs.getString("TYPE_NAME"));
          }
          System.out.println("columns." + table + "=" + String.join(",", columns));
          List<String> keys = new ArrayList<>();
          try (ResultSet rs = md.getPrimaryKeys(null, "public", table)) {
            while (rs.next()) keys.add(rs.getString("COLUMN_NAME"));
          }
          System.out.println("pk." + table + "=" + String.join(",", keys));
          List<String> imported = new ArrayList<>();
          try (ResultSet rs = md.getImportedKeys(null, "public", table)) {
            while (rs.next()) {
              imported.add(rs.getString("FKCOLUMN_NAME") + "->" + rs.getString("PKTABLE_NAME") + "."
                  + rs.getString("PKCOLUMN_NAME"));
            }
          }
          System.out.println("fk." + table + "=" + String.join(",", imported));
        }
      } catch (SQLException e) {
        System.out.println("error=" + e.getSQLState() + " " + e.getMessage());
      }
    }
  }
}
