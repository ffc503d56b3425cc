// A pgJDBC PreparedStatement used across a policy reload (test_reload.py): executed until the
// driver uses a named server statement, then, once stdin says the reload is done, again. Prints
// one line per execution: "<phase> ok <names,>" or "<phase> error <SQLSTATE>".
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

public class JdbcReload {
  public static void main(String[] args) throws Exception {
    String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/app?prepareThreshold=1&sslmode=disable";
    try (Connection c = DriverManager.getConnection(url, args[1], args[2])) {
      PreparedStatement ps = c.prepareStatement("SELECT name FROM customers ORDER BY id");
      for (int i = 0; i < 3; i++) run(ps, "before");
      System.out.println("READY");
      System.out.flush();
      new BufferedReader(new InputStreamReader(System.in)).readLine();
      for (int i = 0; i < 3; i++) run(ps, "after");
    }
  }

  static void run(PreparedStatement ps, String phase) {
    try (ResultSet rs = ps.executeQuery()) {
      StringBuilder names = new StringBuilder();
      while (rs.next()) names.append(rs.getString(1)).append(',');
      System.out.println(phase + " ok " + names);
    } catch (SQLException e) {
      System.out.println(phase + " error " + e.getSQLState());
    }
    System.out.flush();
  }
}
