import Link from "next/link";

export const metadata = { title: "Not allowed" };

export default function NotAllowedPage() {
  return (
    <>
      <h1>Not allowed</h1>
      <p>This page is for administrators.</p>
      <p>
        <Link href="/">Back to your pages</Link>
      </p>
    </>
  );
}
