import { expect, test } from "bun:test";
import { maskJson, maskText } from "../../src/dashboard/mask";

/** What a viewer's dashboard shows of free text (draft and message text, SMTP errors): SPEC §11. */

test("names are masked as whole words in any letter case; other words that contain them stay", () => {
  const person = { email: "erin@stone.io", name: "Erin Stone" };
  expect(maskText("Hi ERIN STONE, erin stone and Erin Stone", person)).toBe("Hi E*** S***, e*** s*** and E*** S***");
  expect(maskText("Stonehenge is not Erin's", person)).toBe("Stonehenge is not E***'s");
});

test("every email address in the text is masked, not only the recipient's", () => {
  const person = { email: "c.smith@newmail.example.net", name: null };
  expect(maskText("550 5.1.1 <henry.bounce@example.com>: Recipient address rejected", person)).toBe("550 5.1.1 <h***@e***.com>: Recipient address rejected");
  expect(maskText("Invited: frank.invitee@example.org; you: c.smith@newmail.example.net", person)).toBe("Invited: f***@e***.org; you: c***@n***.net");
  expect(maskText('<a href="mailto:jörg@münchen.de">write</a>', person, true)).toBe('<a href="mailto:j***@m***.de">write</a>');
});

test("the draft's recorded terms are masked too: details the user had when it was made, an invitee's from the event", () => {
  const person = { email: "c.smith@newmail.example.net", name: "Caroline Smith", terms: ["carol.king@corp.example.org", "Carol King", "Frank Invitee"] };
  expect(maskText("Welcome Carol King <carol.king@corp.example.org>, invited by Frank Invitee", person)).toBe("Welcome C*** K*** <c***@c***.org>, invited by F*** I***");
});

test("in HTML, names are masked between tags only, and in their escaped form", () => {
  const person = { email: null, name: "Li Em", terms: ["D'Arcy"] };
  expect(maskText("<ul><li>Hi Li Em</li></ul><em>em</em>", person, true)).toBe("<ul><li>Hi L*** E***</li></ul><em>e***</em>");
  expect(maskText("<p>Dear D&#39;Arcy</p>", person, true)).toBe("<p>Dear D***</p>");
  // As plain text, "<li>" is text and a name in it is masked like any other.
  expect(maskText("<li>", person)).toBe("<l***>");
});

test("JSON: the person's email and names are masked inside any text value; every value under a contact or name key is", () => {
  const person = { email: "carol.jones@example.com", name: "Carol Jones" };
  const traits = { bio: "I am Carol Jones, write to carol.jones@example.com", note: "ping ops@corp.example", plan: "pro" };
  expect(maskJson(traits, person)).toEqual({ bio: "I am C*** J***, write to c***@e***.com", note: "ping o***@c***.example", plan: "pro" });
  // A number, a list or an object under such a key is masked too; the names found there are masked elsewhere.
  const nested = { phone: 4915112345678, contact: { first: "Imogen", last: "Hale" }, aliases: ["x"], greeting: "Hi Imogen Hale" };
  expect(maskJson(nested)).toEqual({ phone: "4***", contact: { first: "I***", last: "H***" }, aliases: ["x"], greeting: "Hi I*** H***" });
});
